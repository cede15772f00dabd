/**
 * The viewer's HTTP API without a browser: the real FemtoMAX LaB6 recording
 * replayed through the server (accumulated image checked against an
 * independent sum of the frames, steps against the Sardana motor), bad input
 * from the page (malformed ROI JSON, unknown source, bad geometry, foreign
 * origin) answered with a 4xx and a message while the server keeps running,
 * and the documented resets (frame shape change mid-scan, a source failing
 * mid-stream).
 */
import { mkdtempSync, symlinkSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FormatError } from '../../src/errors.ts';
import { Engine } from '../../src/host/engine.ts';
import { writeHdf5Atomic } from '../../src/io/hdf5.ts';
import { cborsEvents } from '../../src/photon/sources.ts';
import type { FrameEvent, SourceEvent } from '../../src/photon/sources.ts';
import type { RoiState, ScanView, ViewerStatus } from '../../src/viewer/live.ts';
import { startViewer, type Viewer } from '../../src/viewer/server.ts';
import { runCli } from '../helpers/cli.ts';
import { sharedData } from '../helpers/paths.ts';
import { http, postJson, waitFor } from './http-client.ts';

const ROWS = 831;
const COLS = 1475;

/** LaB6 geometry of this recording, fitted with src/photon/ring-fit.ts (rings 100, 110, 111). */
const LAB6_PONI = { dist: 0.08177, poni1: 0.066586, poni2: 0.069518, rot1: 0.42603, rot2: -0.025321, rot3: 0, wavelength: 1.5405591e-10, pixel1: 172e-6, pixel2: 172e-6 };

describe('viewer API on the real LaB6 recording', () => {
  let viewer: Viewer;
  let base: string;
  const detector = sharedData('femtomax', 'pilatus-lab6.cbors.gz');
  const motor = sharedData('femtomax', 'pilatus-lab6-sardana.cbors');
  /** the one folder (--allow) whose files the page may switch to */
  const allowDir = mkdtempSync(join(tmpdir(), 'diffract-viewer-'));
  /** independent reference: per pixel Σ over frames of valid values, and the valid count */
  const refSum = new Float64Array(ROWS * COLS);
  const refValid = new Uint32Array(ROWS * COLS);

  beforeAll(async () => {
    for await (const ev of cborsEvents(detector)) {
      if (ev.kind !== 'frame') continue;
      for (let i = 0; i < ev.data.length; i++) {
        const v = ev.data[i] as number;
        if (v >= 0) {
          refSum[i] = (refSum[i] as number) + v;
          refValid[i] = (refValid[i] as number) + 1;
        }
      }
    }
    viewer = await startViewer({
      engine: Engine.cpu(),
      sources: [detector, motor],
      rois: { a: { row0: 300, row1: 500, col0: 600, col1: 900 } },
      roiSource: 'image',
      photon: { threshold: 5, emin: 0, histogram: { min: 0, max: 100, bins: 50 } },
      port: 0,
      allowFolders: [allowDir],
    });
    base = viewer.url;
    await waitFor('the replay to end', async () => {
      const s = (await http(`${base}api/status`)).json<ViewerStatus>();
      return s.state === 'done' ? s : undefined;
    }, 60_000);
  });

  afterAll(async () => {
    await viewer?.close();
  });

  it('listens on loopback and serves the self-contained page', async () => {
    expect(viewer.host).toBe('127.0.0.1');
    const page = await http(base);
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toMatch(/text\/html/);
    expect(page.headers['content-security-policy']).toMatch(/default-src 'self'/);
    // nothing from another host: no absolute URLs in the page or its script
    const js = await http(`${base}app.js`);
    expect(js.status).toBe(200);
    for (const t of [page.text, js.text, (await http(`${base}style.css`)).text]) expect(t).not.toMatch(/(src|href)=["']?(https?:)?\/\//i);
    expect(js.text).not.toMatch(/fetch\(['"`]https?:/);
  });

  it('status: 30 frames seen and accumulated, the frame shape', async () => {
    const s = (await http(`${base}api/status`)).json<ViewerStatus>();
    expect(s.framesSeen).toBe(30);
    expect(s.accumulatedFrames).toBe(30);
    expect(s.accumulating).toBe(true);
    expect(s.shape).toEqual([ROWS, COLS]);
    expect(s.error).toBeNull();
    expect(s.lastFrame?.frame).toBe(29);
  });

  it('the accumulated image as Float32 equals the sum of the frames', async () => {
    const r = await http(`${base}api/image?kind=sum`);
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('application/octet-stream');
    expect(r.headers['x-diffract-rows']).toBe(String(ROWS));
    expect(r.headers['x-diffract-cols']).toBe(String(COLS));
    expect(r.headers['x-diffract-frames']).toBe('30');
    expect(r.body.byteLength).toBe(ROWS * COLS * 4);
    const img = new Float32Array(r.body.buffer.slice(r.body.byteOffset, r.body.byteOffset + r.body.byteLength));
    let masked = 0;
    let worst = 0;
    let total = 0;
    for (let i = 0; i < img.length; i++) {
      const v = img[i] as number;
      if ((refValid[i] as number) === 0) {
        if (Number.isNaN(v)) masked++;
        else worst = Infinity;
        continue;
      }
      total += v;
      worst = Math.max(worst, Math.abs(v - (refSum[i] as number)) / Math.max(1, refSum[i] as number));
    }
    expect(worst).toBeLessThan(1e-6);
    expect(masked).toBeGreaterThan(100_000); // the Pilatus gaps
    expect(total).toBeGreaterThan(1e6);
    const mean = await http(`${base}api/image?kind=mean`);
    expect(mean.status).toBe(200);
    const latest = await http(`${base}api/image?kind=latest`);
    expect(latest.headers['x-diffract-frames']).toBe('1');
    expect((await http(`${base}api/image?kind=bogus`)).status).toBe(400);
  });

  it('the ROI mean over the accumulation matches Σ value / Σ valid', async () => {
    const r = (await http(`${base}api/rois`)).json<RoiState>();
    let s = 0;
    let v = 0;
    for (let row = 300; row < 500; row++) {
      for (let col = 600; col < 900; col++) {
        s += refSum[row * COLS + col] as number;
        v += refValid[row * COLS + col] as number;
      }
    }
    expect(r.rois.a).toEqual({ row0: 300, row1: 500, col0: 600, col1: 900 });
    expect(r.means.a?.mean).toBeCloseTo(s / v, 9);
    expect(r.source).toBe('image');
  });

  it('steps: 5 Sardana points of 6 frames, means ± std against dummy_mot_01', async () => {
    const st = (await http(`${base}api/steps`)).json<{ scans: ScanView[] }>();
    expect(st.scans).toHaveLength(1);
    const scan = st.scans[0] as ScanView;
    expect(scan.axis).toBe('dummy_mot_01');
    expect(scan.frames).toBe(30);
    expect(scan.steps.map((x) => x.x)).toEqual([1, 1.25, 1.5, 1.75, 2]);
    for (const step of scan.steps) {
      expect(step.frames).toBe(6);
      expect(step.means.a?.n).toBe(6);
      expect(step.means.a?.mean).toBeGreaterThan(0);
      expect(step.means.a?.std).toBeGreaterThan(0);
    }
  });

  it('the energy histogram has counts', async () => {
    const h = (await http(`${base}api/histogram`)).json<{ counts: number[]; edges: number[]; total: number; enabled: boolean }>();
    expect(h.enabled).toBe(true);
    expect(h.counts).toHaveLength(50);
    expect(h.edges).toHaveLength(51);
    expect(h.total).toBeGreaterThan(1000);
    // the single-photon peak of the 8 keV Pilatus data lies in the first bins, not at the end
    const peak = h.counts.indexOf(Math.max(...h.counts));
    expect(peak).toBeLessThan(10);
  });

  it('malformed ROI JSON from the page: 400 with the parse error, and the server keeps running', async () => {
    const bad = await postJson(`${base}api/rois`, '{"a": [300, 500, 600');
    expect(bad.status).toBe(400);
    expect(bad.json<{ error: string }>().error).toMatch(/ROI JSON does not parse/);
    const empty = await postJson(`${base}api/rois`, { a: [500, 300, 600, 900] });
    expect(empty.status).toBe(400);
    expect(empty.json<{ error: string }>().error).toMatch(/empty rectangle/);
    const field = await postJson(`${base}api/rois`, { a: { row0: 'x', row1: 5, col0: 0, col1: 5 } });
    expect(field.status).toBe(400);
    expect(field.json<{ error: string; field: string }>()).toMatchObject({ field: 'a.row0' });
    const outside = await postJson(`${base}api/rois`, { a: [2000, 2100, 0, 10] });
    expect(outside.status).toBe(400);
    expect(outside.json<{ error: string }>().error).toMatch(/outside the 831×1475 image/);
    const notObject = await postJson(`${base}api/rois`, '[1, 2, 3]');
    expect(notObject.status).toBe(400);
    // nothing changed, and the server still answers
    const r = (await http(`${base}api/rois`)).json<RoiState>();
    expect(r.rois.a).toEqual({ row0: 300, row1: 500, col0: 600, col1: 900 });
    expect((await http(`${base}api/status`)).status).toBe(200);
  });

  it('a moved ROI gets a new mean; the FemtoMAX RectangleROI spelling works too', async () => {
    const before = (await http(`${base}api/rois`)).json<RoiState>().means.a?.mean;
    const moved = await postJson(`${base}api/rois`, { a: [350, 550, 700, 1000], b: { type: 'RectangleROI', handles: { _handleBottomLeft: [100.7, 50.2], _handleTopRight: [300.1, 250.9] } } });
    expect(moved.status).toBe(200);
    const r = moved.json<RoiState>();
    expect(r.rois.a).toEqual({ row0: 350, row1: 550, col0: 700, col1: 1000 });
    expect(r.rois.b).toEqual({ row0: 50, row1: 250, col0: 100, col1: 300 });
    expect(r.means.a?.mean).toBeGreaterThan(0);
    expect(r.means.a?.mean).not.toBeCloseTo(before as number, 6);
    // partly outside: clipped to the frame
    const clipped = (await postJson(`${base}api/rois`, { a: [800, 900, 1400, 1600] })).json<RoiState>();
    expect(clipped.rois.a).toEqual({ row0: 800, row1: ROWS, col0: 1400, col1: COLS });
  });

  it('geometry: bad values are 400s; a PONI draws q rings and integrates', async () => {
    expect((await postJson(`${base}api/geometry`, '{"poni": {')).status).toBe(400);
    const neg = await postJson(`${base}api/geometry`, { poni: { ...LAB6_PONI, dist: -1 } });
    expect(neg.status).toBe(400);
    expect(neg.json<{ error: string }>().error).toMatch(/dist must be positive/);
    const text = await postJson(`${base}api/geometry`, { poni: { ...LAB6_PONI, rot1: 'a lot' } });
    expect(text.json<{ field: string }>().field).toBe('poni.rot1');
    const q = await postJson(`${base}api/geometry`, { poni: LAB6_PONI, q: [1.5, -2] });
    expect(q.status).toBe(400);
    expect((await http(`${base}api/rings`)).status).toBe(204);

    const ok = await postJson(`${base}api/geometry`, { poni: LAB6_PONI, q: [1.5115, 2.1376, 2.618] });
    expect(ok.status).toBe(200);
    const rings = await http(`${base}api/rings`);
    expect(rings.status).toBe(200);
    expect(rings.body.byteLength).toBe(ROWS * COLS);
    const counts = [0, 0, 0, 0];
    for (const b of rings.body) counts[b] = (counts[b] as number) + 1;
    for (let k = 1; k <= 3; k++) expect(counts[k]).toBeGreaterThan(500);

    const integ = (await http(`${base}api/integration`)).json<{ radial: number[]; intensity: Array<number | null>; frames: number; unit: string }>();
    expect(integ.frames).toBe(30);
    expect(integ.unit).toBe('q_A^-1');
    // the LaB6 (100) and (110) rings: the strongest bin within ±0.06 Å⁻¹ lies on the ring
    for (const q of [1.5115, 2.1376]) {
      let best = -1;
      for (let k = 0; k < integ.radial.length; k++) {
        const x = integ.radial[k] as number;
        if (Math.abs(x - q) > 0.06) continue;
        if (best < 0 || (integ.intensity[k] ?? 0) > (integ.intensity[best] ?? 0)) best = k;
      }
      expect(Math.abs((integ.radial[best] as number) - q), `ring at ${q}`).toBeLessThan(0.01);
    }
  });

  it('refuses requests that a foreign web page could make', async () => {
    const wrongType = await http(`${base}api/control`, { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: '{"action":"reset"}' });
    expect(wrongType.status).toBe(415);
    const foreign = await http(`${base}api/control`, { method: 'POST', headers: { 'Content-Type': 'application/json', Origin: 'http://evil.example' }, body: '{"action":"reset"}' });
    expect(foreign.status).toBe(403);
    const rebound = await http(`${base}api/status`, { headers: { Host: 'evil.example:80' } });
    expect(rebound.status).toBe(403);
    const big = await http(`${base}api/rois`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: `{"a": "${'x'.repeat(2 << 20)}"}` });
    expect(big.status).toBe(413);
    expect((await http(`${base}nope`)).status).toBe(404);
    expect((await http(`${base}api/nope`)).status).toBe(404);
    expect((await http(`${base}api/status`, { method: 'DELETE' })).status).toBe(405);
    expect((await http(`${base}api/status`)).json<ViewerStatus>().accumulatedFrames).toBe(30);
  });

  it('Server-Sent Events start with a snapshot', async () => {
    const first = await new Promise<{ type: string; text: string }>((resolvePromise, reject) => {
      const req = request(`${base}api/events`, (res) => {
        let text = '';
        res.on('data', (c: Buffer) => {
          text += c.toString('utf8');
          if (text.includes('event: hello') && text.endsWith('\n\n')) {
            resolvePromise({ type: String(res.headers['content-type']), text });
            req.destroy();
          }
        });
      });
      req.on('error', reject);
      req.end();
    });
    expect(first.type).toMatch(/text\/event-stream/);
    const line = first.text.split('\n').find((l) => l.startsWith('data: {')) as string;
    const hello = JSON.parse(line.slice(6)) as { status: ViewerStatus; rois: RoiState };
    expect(hello.status.framesSeen).toBe(30);
    expect(Object.keys(hello.rois.rois)).toContain('a');
  });

  it('sources outside the command line and the --allow folders are refused (403) before they are opened; the viewer keeps its sources', async () => {
    const link = join(allowDir, 'passwd.cbors');
    symlinkSync('/etc/passwd', link);
    for (const spec of ['/etc/passwd', '/etc/shadow', '/no/such/recording.cbors.gz', join(allowDir, '..', 'x.h5'), `${allowDir}-other/x.h5`, link, 'tcp://127.0.0.1:1', detector.replace('.cbors.gz', '.cbors.gz/../x.h5')]) {
      const r = await postJson(`${base}api/source`, { sources: [spec] });
      expect(r.status, spec).toBe(403);
      const body = r.json<{ error: string }>();
      expect(body.error, spec).toBe(`${spec}: not allowed: the viewer opens only the sources given on its command line, and files under the --allow folders (1)`);
    }
    // one refused source refuses the switch: nothing was opened
    expect((await postJson(`${base}api/source`, { sources: [detector, '/etc/passwd'] })).status).toBe(403);
    const s = (await http(`${base}api/status`)).json<ViewerStatus>();
    expect(s.sources).toEqual([detector, motor]);
    expect(s.framesSeen).toBe(30);
  });

  it('controls: unknown action and unknown source are 400s; stop, start, reset', async () => {
    const bad = await postJson(`${base}api/control`, { action: 'explode' });
    expect(bad.status).toBe(400);
    expect(bad.json<{ error: string }>().error).toMatch(/start, stop, reset, replay/);
    // an allowed folder but no such file: the source's own error
    const missing = join(allowDir, 'recording.cbors.gz');
    const unknown = await postJson(`${base}api/source`, { sources: [missing] });
    expect(unknown.status).toBe(400);
    expect(unknown.json<{ error: string }>().error).toBe(`${missing}: unknown source: no such file (expected a .cbors[.gz] recording, FILE.h5[:/dataset] or tcp://host:port)`);
    expect((await postJson(`${base}api/source`, { sources: 'x' })).status).toBe(400);
    const s0 = (await http(`${base}api/status`)).json<ViewerStatus>();
    expect(s0.sources).toEqual([detector, motor]);
    expect(s0.accumulatedFrames).toBe(30);

    expect((await postJson(`${base}api/control`, { action: 'stop' })).json<ViewerStatus>().accumulating).toBe(false);
    expect((await postJson(`${base}api/control`, { action: 'start' })).json<ViewerStatus>().accumulating).toBe(true);
    const reset = (await postJson(`${base}api/control`, { action: 'reset' })).json<ViewerStatus>();
    expect(reset.accumulatedFrames).toBe(0);
    expect(reset.lastReset?.reason).toBe('user');
    expect((await http(`${base}api/image`)).status).toBe(204);
    const integ = await http(`${base}api/integration`);
    expect(integ.status).toBe(400);
    expect(integ.json<{ error: string }>().error).toMatch(/nothing accumulated/);
  });

  it('switching to another source (an HDF5 stack under --allow) starts afresh and drops ROIs outside its frames', async () => {
    const h5 = join(allowDir, 'stack.h5');
    const stack = new Float32Array(3 * 40 * 50).map((_v, i) => (i % 2000) % 7); // the same frame three times
    await writeHdf5Atomic(h5, (f) => {
      f.create_group('entry').create_group('data').create_dataset({ name: 'data', data: stack, shape: [3, 40, 50] });
    });
    expect((await postJson(`${base}api/rois`, { a: [300, 500, 600, 900], b: [10, 20, 10, 20] })).status).toBe(200);
    const r = await postJson(`${base}api/source`, { sources: [h5] });
    expect(r.status).toBe(200);
    const s = await waitFor('the HDF5 frames', async () => {
      const x = (await http(`${base}api/status`)).json<ViewerStatus>();
      return x.state === 'done' && x.sources[0] === h5 ? x : undefined;
    });
    expect(s.error).toBeNull();
    expect(s.shape).toEqual([40, 50]);
    expect(s.framesSeen).toBe(3);
    expect(s.accumulatedFrames).toBe(3);
    const rois = (await http(`${base}api/rois`)).json<RoiState>();
    expect(Object.keys(rois.rois)).toEqual(['b']);
    expect(s.notices.map((n) => n.message).join('\n')).toMatch(/ROI 'a' lies outside the 40×50 frame: removed/);
    const img = await http(`${base}api/image?kind=mean`);
    const mean = new Float32Array(img.body.buffer.slice(img.body.byteOffset, img.body.byteOffset + img.body.byteLength));
    expect(Array.from(mean.subarray(0, 8))).toEqual([0, 1, 2, 3, 4, 5, 6, 0]);
    const steps = (await http(`${base}api/steps`)).json<{ scans: ScanView[] }>();
    expect(steps.scans).toHaveLength(1);
    expect(steps.scans[0]?.axis).toBe('frame');
    expect(steps.scans[0]?.steps.map((x) => x.x)).toEqual([0, 1, 2]);
  });
});

/** Frame events of one scan: `shapes[k]` frames of shape k, in order, with value k + 1 everywhere. */
async function* framesOfShapes(shapes: Array<[number, [number, number]]>, failAfter?: number): AsyncGenerator<SourceEvent> {
  const source = 'test';
  yield { kind: 'header', stream: 'det', source, eventNumber: 0, header: { htype: 'header', info: {} } };
  let n = 0;
  for (const [k, [count, shape]] of shapes.entries()) {
    for (let j = 0; j < count; j++) {
      if (failAfter !== undefined && n === failAfter) throw new FormatError('frame blob is truncated', { file: 'broken.cbors', frame: n });
      const data = new Float32Array(shape[0] * shape[1]).fill(k + 1);
      const ev: FrameEvent = { kind: 'frame', stream: 'det', source, eventNumber: n + 1, frame: n, shape, type: 'float32', data };
      yield ev;
      n++;
    }
  }
  yield { kind: 'series-end', stream: 'det', source, eventNumber: n + 1 };
}

describe('viewer: documented resets and failures', () => {
  it('a frame shape change mid-scan resets the accumulation and drops ROIs outside the new frame', async () => {
    const viewer = await startViewer({
      engine: Engine.cpu(),
      sources: ['shape-change (test)'],
      open: () => framesOfShapes([[3, [20, 30]], [2, [10, 12]]]),
      photon: null,
      rois: { inside: { row0: 0, row1: 5, col0: 0, col1: 5 }, gone: { row0: 15, row1: 20, col0: 0, col1: 30 } },
      port: 0,
    });
    try {
      const s = await waitFor('the source to end', async () => {
        const x = (await http(`${viewer.url}api/status`)).json<ViewerStatus>();
        return x.state === 'done' ? x : undefined;
      });
      expect(s.error).toBeNull();
      expect(s.framesSeen).toBe(5);
      expect(s.shape).toEqual([10, 12]);
      expect(s.lastReset).toMatchObject({ reason: 'shape', from: [20, 30], to: [10, 12] });
      expect(s.accumulatedFrames).toBe(2);
      expect(s.notices.map((n) => n.message).join('\n')).toMatch(/ROI 'gone' lies outside the 10×12 frame: removed/);
      expect(s.notices.map((n) => n.message).join('\n')).toMatch(/frame shape changed from 20×30 to 10×12: accumulation reset/);
      const img = await http(`${viewer.url}api/image`);
      expect(img.headers['x-diffract-rows']).toBe('10');
      expect(img.headers['x-diffract-cols']).toBe('12');
      const f = new Float32Array(img.body.buffer.slice(img.body.byteOffset, img.body.byteOffset + img.body.byteLength));
      expect(Array.from(new Set(f))).toEqual([4]); // two frames of value 2
      const r = (await http(`${viewer.url}api/rois`)).json<RoiState>();
      expect(Object.keys(r.rois)).toEqual(['inside']);
      expect(r.means.inside?.mean).toBe(2);
    } finally {
      await viewer.close();
    }
  });

  it('a source that fails mid-stream: state error with the message, the server keeps serving, replay starts over', async () => {
    let opened = 0;
    const viewer = await startViewer({
      engine: Engine.cpu(),
      sources: ['broken (test)'],
      open: () => {
        opened++;
        return framesOfShapes([[5, [8, 8]]], 3);
      },
      photon: null,
      port: 0,
    });
    try {
      const s = await waitFor('the source to fail', async () => {
        const x = (await http(`${viewer.url}api/status`)).json<ViewerStatus>();
        return x.state === 'error' ? x : undefined;
      });
      expect(s.error?.message).toMatch(/broken\.cbors, frame 3: frame blob is truncated/);
      expect(s.framesSeen).toBe(3);
      expect(s.accumulatedFrames).toBe(3);
      expect((await http(`${viewer.url}api/image`)).status).toBe(200);
      const replay = await postJson(`${viewer.url}api/control`, { action: 'replay' });
      expect(replay.status).toBe(200);
      await waitFor('the replay to fail again', async () => {
        const x = (await http(`${viewer.url}api/status`)).json<ViewerStatus>();
        return x.state === 'error' && x.run === 1 ? x : undefined;
      });
      expect(opened).toBe(2);
      expect((await http(`${viewer.url}api/status`)).status).toBe(200);
    } finally {
      await viewer.close();
    }
  });

  it('--loop replays a recording again and keeps accumulating across passes', async () => {
    const viewer = await startViewer({ engine: Engine.cpu(), sources: ['loop (test)'], open: () => framesOfShapes([[2, [6, 6]]]), photon: null, loop: true, fps: 200, port: 0 });
    try {
      const s = await waitFor('two passes', async () => {
        const x = (await http(`${viewer.url}api/status`)).json<ViewerStatus>();
        return x.passes >= 2 ? x : undefined;
      });
      expect(s.accumulatedFrames).toBeGreaterThanOrEqual(4);
      expect(s.state).toBe('running');
      const st = (await http(`${viewer.url}api/steps`)).json<{ scans: ScanView[] }>();
      expect(st.scans.length).toBeGreaterThanOrEqual(2);
    } finally {
      await viewer.close();
    }
  });

  it("the ROI named 'photon' sets the photon-detection ROI (a documented reset); with detection off it is a 400", async () => {
    const on = await startViewer({ engine: Engine.cpu(), sources: ['photon roi (test)'], open: () => framesOfShapes([[2, [12, 12]]]), photon: { threshold: 0.5, emin: 0 }, port: 0 });
    const off = await startViewer({ engine: Engine.cpu(), sources: ['no photons (test)'], open: () => framesOfShapes([[2, [12, 12]]]), photon: null, port: 0 });
    try {
      await waitFor('the source to end', async () => (await http(`${on.url}api/status`)).json<ViewerStatus>().state === 'done' || undefined);
      const r = await postJson(`${on.url}api/rois`, { photon: [2, 10, 2, 10], m: [0, 4, 0, 4] });
      expect(r.status).toBe(200);
      expect(r.json<RoiState>().rois).toEqual({ m: { row0: 0, row1: 4, col0: 0, col1: 4 }, photon: { row0: 2, row1: 10, col0: 2, col1: 10 } });
      const s = (await http(`${on.url}api/status`)).json<ViewerStatus>();
      expect(s.photon.roi).toEqual({ row0: 2, row1: 10, col0: 2, col1: 10 });
      expect(s.lastReset?.reason).toBe('roi');
      expect(s.accumulatedFrames).toBe(0);
      const bad = await postJson(`${off.url}api/rois`, { photon: [2, 10, 2, 10] });
      expect(bad.status).toBe(400);
      expect(bad.json<{ error: string }>().error).toMatch(/photon detection is off/);
      expect((await http(`${off.url}api/rois`)).json<RoiState>().rois).toEqual({});
    } finally {
      await on.close();
      await off.close();
    }
  });

  it('the CLI refuses an unknown source and bad options with one line', async () => {
    const lab6 = sharedData('femtomax', 'pilatus-lab6.cbors.gz');
    const [unknown, roi, allow] = await Promise.all([
      runCli(['view', '/no/such/file.cbors.gz', '--port', '0']),
      runCli(['view', lab6, '--port', '0', '--roi', 'a=1:2:3']),
      runCli(['view', lab6, '--port', '0', '--allow', '/no/such/folder']),
    ]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/^diffract: error: \/no\/such\/file\.cbors\.gz: unknown source: no such file/);
    expect(roi.code).toBe(1);
    expect(roi.stderr).toMatch(/^diffract: error: .*ROI '1:2:3' is not rows r0:r1,cols c0:c1/);
    expect(allow.code).toBe(1);
    expect(allow.stderr).toBe("diffract: error: field '--allow': --allow needs an existing folder, got '/no/such/folder' (no such folder)\n");
  });
});
