/**
 * `diffract photon SOURCE… --out DIR`: photon-level reduction of recorded or
 * live detector streams (FemtoMAX analyses): photon detection on a ROI, CMOS
 * correction, accumulation, ROI and scan-step means, azimuthal integration,
 * one HDF5 file per scan.
 *
 * SOURCE: a `.cbors[.gz]` recording (detector and/or Sardana streams; give
 * both recordings to get motor positions), an HDF5 frame stack
 * (`FILE.h5[:/dataset]`) or a live ZeroMQ PULL endpoint (`tcp://host:port`).
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { FileAccessError, UsageError } from '../../errors.ts';
import { readPoni } from '../../io/poni.ts';
import type { PhotonMode } from '../../kernels/photon-detect.ts';
import type { RadialUnit } from '../../photon/geometry.ts';
import { writeScanFile } from '../../photon/output.ts';
import { parseRoiSpec, parseRoisJson, readRoisArg, type Roi } from '../../photon/roi.ts';
import { PhotonSession, type Correction, type IntegrationResult, type ScanRecord } from '../../photon/session.ts';
import { mergeEvents, openSource, type SourceEvent } from '../../photon/sources.ts';
import { log } from '../../util/log.ts';
import { withEngine } from '../engine-options.ts';
import type { CommandSpec } from '../registry.ts';

interface PhotonOptions {
  out: string;
  roi?: string;
  rois?: string;
  threshold: string;
  emin: string;
  mode: string;
  detect: boolean;
  poni?: string;
  bins: string;
  unit: string;
  polarization?: string;
  correction: string;
  dark: string;
  cmosThreshold: string;
  batch: string;
  stream?: string;
  skipUnknown?: boolean;
  idleTimeout?: string;
  qRings?: string;
  json?: boolean;
}

function num(text: string, name: string, check: (v: number) => boolean = Number.isFinite): number {
  const v = Number(text);
  if (!check(v)) throw new UsageError(`${name} got '${text}'`, { field: name });
  return v;
}

function photonRoi(arg: string): Roi {
  const t = arg.trim();
  if (t.startsWith('{')) {
    const rois = parseRoisJson(t);
    const r = rois.photon ?? Object.values(rois)[0];
    if (r === undefined) throw new UsageError('--roi JSON names no ROI', { field: '--roi' });
    return r;
  }
  if (/^-?\d/.test(t)) return parseRoiSpec(t, '--roi');
  const rois = readRoisArg(t);
  const r = rois.photon ?? Object.values(rois)[0];
  if (r === undefined) throw new UsageError(`--roi file ${arg} names no ROI`, { field: '--roi' });
  return r;
}

function correction(o: PhotonOptions): Correction | 'auto' {
  if (o.correction === 'auto') return 'auto';
  if (o.correction === 'none') return { kind: 'none' };
  if (o.correction !== 'cmos') throw new UsageError(`--correction must be auto, none or cmos, got '${o.correction}'`, { field: '--correction' });
  let dark: number | Float32Array;
  if (/^[-+]?\d/.test(o.dark)) dark = num(o.dark, '--dark must be a number or a raw float32 file');
  else {
    if (!existsSync(o.dark)) throw new FileAccessError('no such dark frame file', { file: o.dark });
    const b = readFileSync(o.dark);
    dark = new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength - (b.byteLength % 4)));
  }
  return { kind: 'cmos', dark, zeroBelow: num(o.cmosThreshold, '--cmos-threshold must be a number') };
}

function summary(scan: ScanRecord, file: string, integ: IntegrationResult | null): Record<string, unknown> {
  return {
    scan: scan.scan,
    file,
    raw: scan.filename ?? null,
    frames: scan.frameNumbers.length,
    hits: scan.hits.count,
    steps: scan.steps.length,
    maxEnergy: scan.maxEnergy.reduce((a, b) => Math.max(a, b), 0),
    integration: integ === null ? null : { bins: integ.radial.length, frames: integ.frames, backend: integ.backend },
  };
}

export const photonCommand: CommandSpec = {
  name: 'photon',
  register(program) {
    program
      .command('photon')
      .description('photon-level reduction of detector streams: photon detection, CMOS correction, accumulation, ROI/step means, azimuthal integration; one HDF5 file per scan')
      .argument('<source...>', '.cbors[.gz] recordings (detector and Sardana), FILE.h5[:/dataset], or tcp://host:port (live ZeroMQ PULL)')
      .requiredOption('--out <dir>', 'output folder (created if missing)')
      .option('--roi <spec>', 'photon-detection ROI: r0:r1,c0:c1 (rows, columns), or ROI JSON / file (its "photon" ROI)')
      .option('--rois <json|file>', 'ROIs for per-frame means: {"name": [r0, r1, c0, c1]} or the live viewer\'s RectangleROI JSON; a ROI named "photon" is the photon ROI')
      .option('--threshold <T>', 'counting threshold on raw values (with the CMOS offset)', '108')
      .option('--emin <E>', 'keep hits with 3×3 energy > E', '1100')
      .option('--mode <mode>', 'reference (the original pipeline, edge rules included) or local-max', 'reference')
      .option('--no-detect', 'skip photon detection')
      .option('--poni <file>', 'pyFAI PONI geometry: integrate the accumulated image azimuthally at the end of every scan')
      .option('--bins <n>', 'radial bins of the integration', '1000')
      .option('--unit <unit>', 'radial unit: q (Å⁻¹) or 2th (degrees)', 'q')
      .option('--polarization <P>', 'polarization factor in [-1, 1] (default: no correction)')
      .option('--correction <kind>', 'image correction: auto (cmos for uint8/uint16 frames), none, cmos', 'auto')
      .option('--dark <N|file>', 'CMOS dark level, or a raw float32 dark frame file', '100')
      .option('--cmos-threshold <N>', 'CMOS: zero corrected pixels below N', '12')
      .option('--batch <n>', 'frames per photon-detection batch', '8')
      .option('--stream <name>', 'detector stream to use (default: the first stream1 stream)')
      .option('--skip-unknown', 'skip stream1 messages of unknown type instead of failing')
      .option('--idle-timeout <ms>', 'live sources: stop after this long without a message')
      .option('--q-rings <list>', 'q values (Å⁻¹, comma separated) whose rings are drawn into /entry/q_rings (needs --poni)')
      .option('--json', 'print one JSON summary line per scan')
      .action(async (sources: string[], o: PhotonOptions, cmd: Command) => {
        if (!existsSync(o.out)) mkdirSync(o.out, { recursive: true });
        const mode = o.mode as PhotonMode;
        if (mode !== 'reference' && mode !== 'local-max') throw new UsageError(`--mode must be reference or local-max, got '${o.mode}'`, { field: '--mode' });
        const rois = o.rois !== undefined ? readRoisArg(o.rois) : {};
        let roi: Roi | undefined = o.roi !== undefined ? photonRoi(o.roi) : rois.photon;
        if (rois.photon !== undefined) delete rois.photon;
        const unit: RadialUnit = o.unit === 'q' ? 'q_A^-1' : o.unit === '2th' ? '2th_deg' : (() => {
          throw new UsageError(`--unit must be q or 2th, got '${o.unit}'`, { field: '--unit' });
        })();
        const poni = o.poni !== undefined ? readPoni(o.poni) : null;
        const bins = num(o.bins, '--bins must be a positive integer', (v) => Number.isInteger(v) && v > 0);
        const batch = num(o.batch, '--batch must be a positive integer', (v) => Number.isInteger(v) && v > 0);
        const threshold = num(o.threshold, '--threshold must be a number');
        const emin = num(o.emin, '--emin must be a number');
        const corr = correction(o);
        const qRings = o.qRings !== undefined ? o.qRings.split(',').map((t) => num(t, '--q-rings must be numbers', (v) => v > 0)) : undefined;
        if (qRings !== undefined && o.poni === undefined) throw new UsageError('--q-rings needs --poni', { field: '--q-rings' });
        const opened = sources.map((s) => {
          const so: { skipUnknown?: boolean; idleTimeoutMs?: number } = {};
          if (o.skipUnknown) so.skipUnknown = true;
          if (o.idleTimeout !== undefined) so.idleTimeoutMs = num(o.idleTimeout, '--idle-timeout must be milliseconds', (v) => v > 0);
          return openSource(s, so);
        });
        await withEngine(cmd, async (engine) => {
          const photon = o.detect ? { threshold, emin, mode, ...(roi !== undefined ? { roi } : {}) } : null;
          const session = new PhotonSession({
            engine,
            photon,
            correction: corr,
            rois,
            batchSize: batch,
            ...(o.stream !== undefined ? { stream: o.stream } : {}),
            integration: poni === null ? null : { poni, bins, unit, ...(o.polarization !== undefined ? { polarizationFactor: num(o.polarization, '--polarization must be in [-1, 1]', (v) => v >= -1 && v <= 1) } : {}) },
          });
          roi = undefined;
          const writes: Array<Promise<void>> = [];
          session.on('reset', (r) => log('notice', `accumulation reset (${r.reason}${r.from !== undefined && r.to !== undefined ? `: ${r.from.join('×')} → ${r.to.join('×')}` : ''})`));
          session.on('scan-end', (scan) => {
            // integrate and write before the next scan adds frames
            writes.push(
              (async () => {
                const integ = poni !== null && session.accumulatedImage() !== null ? await session.integrate() : null;
                const file = await writeScanFile(o.out, scan, { session, integration: integ, ...(qRings !== undefined ? { qRings } : {}) });
                const s = summary(scan, file, integ);
                if (o.json) process.stdout.write(`${JSON.stringify(s)}\n`);
                else process.stdout.write(`scan ${scan.scan}: ${scan.frameNumbers.length} frames, ${scan.hits.count} hits, ${scan.steps.length} steps${integ !== null ? `, integrated ${integ.frames} frames into ${integ.radial.length} bins` : ''} → ${file}\n`);
              })(),
            );
          });
          const source = opened.length === 1 ? (opened[0] as AsyncGenerator<SourceEvent>) : mergeEvents(...opened);
          for await (const ev of source) {
            await session.handle(ev);
            // the scan-end handler queued its work synchronously: finish it here
            while (writes.length > 0) await writes.shift();
          }
          await session.finish();
          while (writes.length > 0) await writes.shift();
        });
      });
  },
};
