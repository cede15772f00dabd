/**
 * `diffract view` end to end: the real CLI serves the FemtoMAX LaB6 recording
 * (with its Sardana motor stream and a PONI geometry), and Debian's Chromium,
 * driven by playwright-core, checks what the page shows: 30 accumulated
 * frames, a non-blank image with q rings, histogram bars, ROI-vs-motor points
 * with error bars; it drags a ROI (the server's ROI mean follows), stops and
 * restarts accumulation, sends malformed ROI JSON and an unknown source (the
 * page shows the error, the server keeps running), and takes a screenshot
 * (also saved as $TMPDIR/diffract-viewer.png).
 *
 * Needs /usr/bin/chromium (bash .ci/setup-browser.sh; DIFFRACT_CHROMIUM names
 * another binary). Without it the suite is skipped, except with CI=true, where
 * it fails.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RoiState, ViewerStatus } from '../../src/viewer/live.ts';
import { REPO_ROOT, sharedData } from '../helpers/paths.ts';
import { http, waitFor } from './http-client.ts';

const CHROMIUM = process.env.DIFFRACT_CHROMIUM ?? '/usr/bin/chromium';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
const IN_CI = process.env.CI === 'true';
/** the flags that make Chromium work on a machine with a closed network (see the build machines' notes) */
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** LaB6 geometry of this recording, fitted with src/photon/ring-fit.ts. */
const PONI_TEXT = `# LaB6, FemtoMAX Pilatus test recording
poni_version: 2
Detector: Pilatus
Detector_config: {"pixel1": 0.000172, "pixel2": 0.000172, "max_shape": [831, 1475]}
Distance: 0.08177
Poni1: 0.066586
Poni2: 0.069518
Rot1: 0.42603
Rot2: -0.025321
Rot3: 0
Wavelength: 1.5405591e-10
`;

describe.skipIf(!HAVE_CHROMIUM && !IN_CI)('diffract view in Chromium', () => {
  let dir: string;
  let child: ChildProcess | null = null;
  let childExit: Promise<number | null>;
  let stderr = '';
  let base = '';
  let browser: Browser | null = null;
  let page: Page;
  const foreignRequests: string[] = [];
  const pageErrors: string[] = [];

  const status = async (): Promise<ViewerStatus> => (await http(`${base}api/status`)).json<ViewerStatus>();
  const rois = async (): Promise<RoiState> => (await http(`${base}api/rois`)).json<RoiState>();
  const text = async (sel: string): Promise<string> => (await page.locator(sel).textContent()) ?? '';
  /** Polls a page expression from here (the page's CSP forbids the eval that page.waitForFunction uses). */
  const until = (expr: string, timeoutMs: number): Promise<true> => waitFor(expr, async () => (await page.evaluate<boolean>(expr)) === true || undefined, timeoutMs, 100);

  beforeAll(async () => {
    if (!HAVE_CHROMIUM) throw new Error(`Chromium not found at ${CHROMIUM}: install it with bash .ci/setup-browser.sh (with CI=true the browser test must run)`);
    dir = mkdtempSync(join(tmpdir(), 'diffract-view-'));
    const poni = join(dir, 'lab6.poni');
    writeFileSync(poni, PONI_TEXT);
    const args = [
      join(REPO_ROOT, 'bin', 'diffract.js'),
      '--backend', 'cpu',
      'view',
      sharedData('femtomax', 'pilatus-lab6.cbors.gz'),
      sharedData('femtomax', 'pilatus-lab6-sardana.cbors'),
      '--port', '0',
      '--roi', 'a=300:500,600:900', '--roi', 'b=100:250,150:350',
      '--roi-source', 'image',
      '--threshold', '5', '--emin', '0', '--hist', '0:100:50',
      '--poni', poni,
      '--q', '1.5115,2.1376,2.618,3.023',
      '--fps', '8', // paced, so that the page sees the frames arrive
    ];
    const proc = spawn(process.execPath, args, { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    child = proc;
    childExit = new Promise((r) => proc.on('exit', (code) => r(code)));
    proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    base = await new Promise<string>((resolvePromise, reject) => {
      let out = '';
      const t = setTimeout(() => reject(new Error(`no viewer URL within 40 s; stderr:\n${stderr}`)), 40_000);
      proc.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /viewer: (http:\/\/127\.0\.0\.1:\d+\/)/.exec(out);
        if (m !== null) {
          clearTimeout(t);
          resolvePromise(m[1] as string);
        }
      });
      proc.on('exit', (code) => reject(new Error(`diffract view exited with ${code}: ${stderr}`)));
    });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 30_000 });
    page = await browser.newPage({ viewport: { width: 1500, height: 1000 } });
    page.on('request', (r) => {
      if (!r.url().startsWith(base)) foreignRequests.push(r.url());
    });
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.goto(base);
  }, 90_000);

  afterAll(async () => {
    await browser?.close();
    if (child !== null && child.exitCode === null) child.kill('SIGKILL');
  });

  it('shows 30 accumulated frames as they arrive, with a real image, histogram and steps', async () => {
    const seen = new Set<string>();
    await waitFor('30 accumulated frames in the page', async () => {
      const t = await text('#acc-frames');
      seen.add(t);
      return t === '30' || undefined;
    }, 45_000, 50);
    expect(seen.size, `counter values seen: ${[...seen].join(', ')}`).toBeGreaterThan(2);
    await until("document.body.dataset.renderedFrames === '30'", 15_000);
    expect(await text('#frames-seen')).toBe('30');
    await until("document.getElementById('state').textContent === 'done'", 10_000);
    expect(await text('#accum-state')).toBe('accumulating');

    // the canvas shows the data: many distinct colours, data pixels and ring pixels
    const px = await page.evaluate<{ w: number; h: number; distinct: number; bright: number; ring: number }>(`(() => {
      const c = document.getElementById('image-canvas');
      const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      const seen = new Set();
      let bright = 0, ring = 0;
      for (let i = 0; i < d.length; i += 4) {
        seen.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]);
        if (d[i] + d[i + 1] + d[i + 2] > 300) bright++;
        if (d[i] === 255 && d[i + 1] === 80 && d[i + 2] === 80) ring++;
      }
      return { w: c.width, h: c.height, distinct: seen.size, bright, ring };
    })()`);
    expect(px.w).toBeGreaterThan(600);
    expect(px.distinct).toBeGreaterThan(50);
    expect(px.bright).toBeGreaterThan(1000);
    expect(px.ring).toBeGreaterThan(200); // the (100) ring, drawn from the PONI

    // zoomed out (fit), the max filter keeps single hot pixels: without it fewer bright pixels remain
    expect(await page.evaluate<number>('window.diffractViewer.view.scale')).toBeLessThan(1);
    const brightNow = `(() => {
      const c = document.getElementById('image-canvas');
      const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      let n = 0;
      for (let i = 0; i < d.length; i += 4) if (d[i] + d[i + 1] + d[i + 2] > 300 && !(d[i] === 255 && d[i + 1] === 80)) n++;
      return n;
    })()`;
    const withMax = await page.evaluate<number>(brightNow);
    await page.uncheck('#max-filter');
    const withoutMax = await page.evaluate<number>(brightNow);
    expect(withoutMax).toBeLessThan(0.8 * withMax);
    await page.check('#max-filter');
    // log → linear scale changes the picture
    await page.selectOption('#scale', 'linear');
    expect(await page.evaluate<number>(brightNow)).not.toBe(withMax);
    await page.selectOption('#scale', 'log');
    // the same picture again (a redraw may move the edge of a ring by a pixel or two: seen 13954 vs 13956)
    expect(Math.abs((await page.evaluate<number>(brightNow)) - withMax)).toBeLessThanOrEqual(Math.ceil(0.001 * withMax));
    // wheel zoom about the cursor, then fit again
    const box = await page.locator('#image-canvas').boundingBox();
    if (box === null) throw new Error('no canvas');
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await page.mouse.wheel(0, -300);
    await until('window.diffractViewer.view.scale > 0.7', 5_000);
    await page.click('#btn-fit');
    expect(await page.evaluate<number>('window.diffractViewer.view.scale')).toBeLessThan(0.7);

    // histogram bars and ROI-vs-motor points with error bars
    await until("document.querySelectorAll('#hist-plot rect.bar').length > 0", 10_000);
    expect(await page.locator('#hist-plot rect.bar').count()).toBeGreaterThan(10);
    expect(await text('#hist-total')).toMatch(/^\d+ candidate hits$/);
    await until("document.querySelectorAll('#steps-plot g[data-roi=\"a\"] circle.point').length === 5", 10_000);
    expect(await page.locator('#steps-plot line.errorbar').count()).toBe(10);
    expect(await text('#steps-axis')).toBe('dummy_mot_01');
    // the PONI form holds the geometry (mm, rad, Å)
    expect(Number(await page.locator('#poni-dist').inputValue())).toBeCloseTo(81.77, 6);
    expect(Number(await page.locator('#poni-wavelength').inputValue())).toBeCloseTo(1.5405591, 6);
    await until("document.querySelectorAll('#int-plot polyline').length === 1", 15_000);

    // PONI entry: a new distance in the form goes to the server, and the rings move
    const ringPixels = "(() => { const c = document.getElementById('image-canvas'); const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0; for (let i = 0; i < d.length; i += 4) if (d[i] === 255 && d[i + 1] === 80 && d[i + 2] === 80) n++; return n; })()";
    const ringsBefore = await page.evaluate<number>(ringPixels);
    await page.fill('#poni-dist', '60');
    await page.click('#btn-poni-apply');
    await waitFor('the new distance on the server', async () => {
      const g = (await http(`${base}api/geometry`)).json<{ poni: { dist: number } | null }>();
      return g.poni !== null && Math.abs(g.poni.dist - 0.06) < 1e-9 ? true : undefined;
    }, 10_000);
    await until(`${ringPixels} !== ${ringsBefore}`, 10_000);
    await page.fill('#poni-dist', '81.77');
    await page.click('#btn-poni-apply');
    await until(`${ringPixels} === ${ringsBefore}`, 10_000);
  }, 90_000);

  it('ROIs dragged, resized, drawn and removed in the page change on the server, whose ROI means follow', async () => {
    const before = await rois();
    expect(before.rois.a).toEqual({ row0: 300, row1: 500, col0: 600, col1: 900 });
    const meanBefore = before.means.a?.mean as number;
    expect(meanBefore).toBeGreaterThan(0);
    const from = await page.evaluate<{ x: number; y: number }>('window.diffractViewer.imageToClient(400, 750)');
    const to = await page.evaluate<{ x: number; y: number }>('window.diffractViewer.imageToClient(450, 850)');
    await page.mouse.move(from.x, from.y);
    await page.mouse.down();
    await page.mouse.move(to.x, to.y, { steps: 8 });
    await page.mouse.up();
    const after = await waitFor('the moved ROI on the server', async () => {
      const r = await rois();
      return r.rois.a !== undefined && r.rois.a.col0 !== 600 ? r : undefined;
    }, 10_000);
    const a = after.rois.a as { row0: number; row1: number; col0: number; col1: number };
    expect(Math.abs(a.row0 - 350)).toBeLessThanOrEqual(2);
    expect(Math.abs(a.col0 - 700)).toBeLessThanOrEqual(2);
    expect(a.row1 - a.row0).toBe(200);
    expect(a.col1 - a.col0).toBe(300);
    expect(after.means.a?.mean).toBeGreaterThan(0);
    expect(after.means.a?.mean).not.toBeCloseTo(meanBefore, 6);
    expect(after.rois.b).toEqual({ row0: 100, row1: 250, col0: 150, col1: 350 });
    await until(`document.querySelector('#roi-table tr[data-roi="a"] td:nth-child(4)').textContent === '${a.col0}:${a.col1}'`, 5_000);

    // resize: drag b's bottom-right corner by +20 rows, +40 columns
    const corner = await page.evaluate<{ x: number; y: number }>('window.diffractViewer.imageToClient(250, 350)');
    const cornerTo = await page.evaluate<{ x: number; y: number }>('window.diffractViewer.imageToClient(270, 390)');
    await page.mouse.move(corner.x, corner.y);
    await page.mouse.down();
    await page.mouse.move(cornerTo.x, cornerTo.y, { steps: 5 });
    await page.mouse.up();
    const resized = await waitFor('the resized ROI', async () => {
      const r = await rois();
      return r.rois.b !== undefined && r.rois.b.row1 !== 250 ? r.rois.b : undefined;
    }, 10_000);
    expect(resized.row0).toBe(100);
    expect(resized.col0).toBe(150);
    expect(Math.abs(resized.row1 - 270)).toBeLessThanOrEqual(2);
    expect(Math.abs(resized.col1 - 390)).toBeLessThanOrEqual(2);

    // create with “+ ROI” and a drag, then remove it from the table
    await page.click('#btn-new-roi');
    const c0 = await page.evaluate<{ x: number; y: number }>('window.diffractViewer.imageToClient(600, 1100)');
    const c1 = await page.evaluate<{ x: number; y: number }>('window.diffractViewer.imageToClient(700, 1300)');
    await page.mouse.move(c0.x, c0.y);
    await page.mouse.down();
    await page.mouse.move(c1.x, c1.y, { steps: 5 });
    await page.mouse.up();
    const created = await waitFor('the new ROI', async () => (await rois()).rois.roi1, 10_000);
    expect(Math.abs(created.row0 - 600) + Math.abs(created.row1 - 700) + Math.abs(created.col0 - 1100) + Math.abs(created.col1 - 1300)).toBeLessThanOrEqual(8);
    expect((await rois()).means.roi1?.mean).toBeGreaterThan(0);
    await page.click('#roi-table tr[data-roi="roi1"] button');
    await waitFor('the ROI removed', async () => ((await rois()).rois.roi1 === undefined ? true : undefined), 10_000);

    // the screenshot: accumulated image with rings and ROIs, plots filled
    await page.waitForTimeout(300);
    const shot = join(dir, 'viewer.png');
    await page.screenshot({ path: shot, fullPage: true });
    const bytes = readFileSync(shot);
    expect(bytes.subarray(0, 8).toString('hex')).toBe('89504e470d0a1a0a');
    expect(bytes.byteLength).toBeGreaterThan(50_000);
    const png = PNG.sync.read(bytes);
    expect(png.width).toBeGreaterThanOrEqual(1500);
    const colours = new Set<number>();
    for (let i = 0; i < png.data.length; i += 4 * 7) colours.add(((png.data[i] as number) << 16) | ((png.data[i + 1] as number) << 8) | (png.data[i + 2] as number));
    expect(colours.size).toBeGreaterThan(200);
    copyFileSync(shot, join(process.env.TMPDIR ?? tmpdir(), 'diffract-viewer.png'));
  }, 60_000);

  it('stop and start: while stopped, a replay is analysed but not accumulated', async () => {
    await page.click('#btn-stop');
    await until("document.getElementById('accum-state').textContent === 'stopped'", 5_000);
    expect((await status()).accumulating).toBe(false);
    expect(await page.locator('#btn-start').isEnabled()).toBe(true);

    await page.click('#btn-replay');
    const s1 = await waitFor('the replay while stopped', async () => {
      const s = await status();
      return s.run === 1 && s.state === 'done' ? s : undefined;
    }, 45_000);
    expect(s1.framesSeen).toBe(30);
    expect(s1.accumulatedFrames).toBe(0);
    await until("document.getElementById('frames-seen').textContent === '30' && document.getElementById('acc-frames').textContent === '0'", 5_000);

    await page.click('#btn-start');
    await until("document.getElementById('accum-state').textContent === 'accumulating'", 5_000);
    await page.click('#btn-replay');
    const s2 = await waitFor('the replay while accumulating', async () => {
      const s = await status();
      return s.run === 2 && s.state === 'done' ? s : undefined;
    }, 45_000);
    expect(s2.accumulatedFrames).toBe(30);
    await until("document.getElementById('acc-frames').textContent === '30' && document.body.dataset.renderedFrames === '30'", 10_000);
  }, 120_000);

  it('malformed ROI JSON and an unknown source show an error in the page; the server keeps running', async () => {
    await page.click('#roi-json-box summary');
    await page.fill('#roi-json', '{"a": [300, 500, 600');
    await page.click('#btn-roi-json');
    await until("!document.getElementById('error-banner').hidden", 5_000);
    expect(await text('#error-text')).toMatch(/^ROIs: (field 'rois': )?ROI JSON does not parse: /);
    await page.click('#error-close');

    await page.fill('#source-input', '/no/such/recording.cbors.gz');
    await page.click('#btn-source');
    await until("!document.getElementById('error-banner').hidden", 5_000);
    // not given on the command line nor under an --allow folder: refused before it is looked up
    expect(await text('#error-text')).toMatch(/^source: \/no\/such\/recording\.cbors\.gz: not allowed: the viewer opens only the sources given on its command line/);

    const s = await status();
    expect(s.accumulatedFrames).toBe(30);
    expect(s.sources[0]).toMatch(/pilatus-lab6\.cbors\.gz$/);
    expect(Object.keys((await rois()).rois).sort()).toEqual(['a', 'b']);
    expect(pageErrors).toEqual([]);
    expect(foreignRequests).toEqual([]);
  }, 30_000);

  it('stops cleanly on SIGTERM', async () => {
    expect(child).not.toBeNull();
    child?.kill('SIGTERM');
    const code = await Promise.race([childExit, new Promise<string>((r) => setTimeout(() => r('timeout'), 10_000))]);
    expect(code, stderr).toBe(0);
  }, 20_000);
});
