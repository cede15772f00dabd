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
import { formatMiB, peakRssBytes } from '../../host/node-memory.ts';
import { readPoni } from '../../io/poni.ts';
import type { PhotonMode } from '../../kernels/photon-detect.ts';
import { writeScanFile } from '../../photon/output.ts';
import { parseRoiSpec, parseRoisJson, readRoisArg, type Roi } from '../../photon/roi.ts';
import { mergeEvents, openSource, type SourceEvent } from '../../photon/sources.ts';
import { PHOTON_DEFAULTS, photonStage, scanSummary, validatePhotonSettings, type PhotonSettings } from '../../stages/photon.ts';
import type { CommandSpec } from '../command-spec.ts';
import { withEngine } from '../engine-options.ts';
import { checkAsFlags, type FlagNames } from '../settings-flags.ts';
import { log } from '../../util/log.ts';
import { cliContext } from '../stage-context.ts';

export interface PhotonOptions {
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

const PHOTON_FLAGS: FlagNames = { mode: '--mode', correction: '--correction', unit: '--unit', polarization: '--polarization', bins: '--bins', batch: '--batch' };

/** The CLI's name of a radial unit. */
const UNIT_FLAG = { 'q_A^-1': 'q', '2th_deg': '2th' } as const;

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

function darkLevel(text: string): number | Float32Array {
  if (/^[-+]?\d/.test(text)) return num(text, '--dark must be a number or a raw float32 file');
  if (!existsSync(text)) throw new FileAccessError('no such dark frame file', { file: text });
  const b = readFileSync(text);
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength - (b.byteLength % 4)));
}

/** The photon settings of the command line (checked; errors name the flags). */
export function photonSettings(o: PhotonOptions): PhotonSettings {
  const mode = o.mode as PhotonMode;
  if (mode !== 'reference' && mode !== 'local-max') throw new UsageError(`--mode must be reference or local-max, got '${o.mode}'`, { field: '--mode' });
  const rois = o.rois !== undefined ? readRoisArg(o.rois) : {};
  const roi: Roi | undefined = o.roi !== undefined ? photonRoi(o.roi) : rois.photon;
  if (rois.photon !== undefined) delete rois.photon;
  const unit = o.unit === UNIT_FLAG['q_A^-1'] ? 'q_A^-1' : o.unit === UNIT_FLAG['2th_deg'] ? '2th_deg' : (() => {
    throw new UsageError(`--unit must be q or 2th, got '${o.unit}'`, { field: '--unit' });
  })();
  if (o.correction !== 'auto' && o.correction !== 'none' && o.correction !== 'cmos') throw new UsageError(`--correction must be auto, none or cmos, got '${o.correction}'`, { field: '--correction' });
  const s: PhotonSettings = {
    detect: o.detect,
    threshold: num(o.threshold, '--threshold must be a number'),
    emin: num(o.emin, '--emin must be a number'),
    mode,
    roi: roi ?? null,
    rois,
    correction: o.correction,
    dark: o.correction === 'cmos' ? darkLevel(o.dark) : PHOTON_DEFAULTS.dark,
    cmosThreshold: num(o.cmosThreshold, '--cmos-threshold must be a number'),
    batch: num(o.batch, '--batch must be a positive integer', (v) => Number.isInteger(v) && v > 0),
    bins: num(o.bins, '--bins must be a positive integer', (v) => Number.isInteger(v) && v > 0),
    unit,
    polarization: o.polarization !== undefined ? num(o.polarization, '--polarization must be in [-1, 1]', (v) => v >= -1 && v <= 1) : null,
    stream: o.stream ?? null,
  };
  checkAsFlags(PHOTON_FLAGS, () => validatePhotonSettings(s));
  return s;
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
      .option('--threshold <T>', 'counting threshold on raw values (with the CMOS offset)', String(PHOTON_DEFAULTS.threshold))
      .option('--emin <E>', 'keep hits with 3×3 energy > E', String(PHOTON_DEFAULTS.emin))
      .option('--mode <mode>', 'reference (the original pipeline, edge rules included) or local-max', PHOTON_DEFAULTS.mode)
      .option('--no-detect', 'skip photon detection')
      .option('--poni <file>', 'pyFAI PONI geometry: integrate the accumulated image azimuthally at the end of every scan')
      .option('--bins <n>', 'radial bins of the integration', String(PHOTON_DEFAULTS.bins))
      .option('--unit <unit>', 'radial unit: q (Å⁻¹) or 2th (degrees)', UNIT_FLAG[PHOTON_DEFAULTS.unit])
      .option('--polarization <P>', 'polarization factor in [-1, 1] (default: no correction)')
      .option('--correction <kind>', 'image correction: auto (cmos for uint8/uint16 frames), none, cmos', PHOTON_DEFAULTS.correction)
      .option('--dark <N|file>', 'CMOS dark level, or a raw float32 dark frame file', String(PHOTON_DEFAULTS.dark))
      .option('--cmos-threshold <N>', 'CMOS: zero corrected pixels below N', String(PHOTON_DEFAULTS.cmosThreshold))
      .option('--batch <n>', 'frames per photon-detection batch', String(PHOTON_DEFAULTS.batch))
      .option('--stream <name>', 'detector stream to use (default: the first stream1 stream)')
      .option('--skip-unknown', 'skip stream1 messages of unknown type instead of failing')
      .option('--idle-timeout <ms>', 'live sources: stop after this long without a message')
      .option('--q-rings <list>', 'q values (Å⁻¹, comma separated) whose rings are drawn into /entry/q_rings (needs --poni)')
      .option('--json', 'print one JSON summary line per scan')
      .action(async (sources: string[], o: PhotonOptions, cmd: Command) => {
        if (!existsSync(o.out)) mkdirSync(o.out, { recursive: true });
        const settings = photonSettings(o);
        const poni = o.poni !== undefined ? readPoni(o.poni) : null;
        const qRings = o.qRings !== undefined ? o.qRings.split(',').map((t) => num(t, '--q-rings must be numbers', (v) => v > 0)) : undefined;
        if (qRings !== undefined && o.poni === undefined) throw new UsageError('--q-rings needs --poni', { field: '--q-rings' });
        const opened = sources.map((s) => {
          const so: { skipUnknown?: boolean; idleTimeoutMs?: number } = {};
          if (o.skipUnknown) so.skipUnknown = true;
          if (o.idleTimeout !== undefined) so.idleTimeoutMs = num(o.idleTimeout, '--idle-timeout must be milliseconds', (v) => v > 0);
          return openSource(s, so);
        });
        // one name per scan, even when two headers name the same raw file (else the second overwrites the first)
        const written = new Set<string>();
        const events = opened.length === 1 ? (opened[0] as AsyncGenerator<SourceEvent>) : mergeEvents(...opened);
        const started = performance.now();
        await withEngine(cmd, async (engine) => {
          const result = await photonStage.run(
            cliContext(engine),
            {
              events,
              poni,
              onScan: async (scan, integ, session) => {
                const file = await writeScanFile(o.out, scan, { session, integration: integ, written, ...(qRings !== undefined ? { qRings } : {}) });
                const { scan: n, ...rest } = scanSummary(scan, integ);
                if (o.json) process.stdout.write(`${JSON.stringify({ scan: n, file, ...rest, nonFinitePixels: scan.nonFinitePixels })}\n`);
                else process.stdout.write(`scan ${scan.scan}: ${scan.frameNumbers.length} frames, ${scan.hits.count} hits, ${scan.steps.length} steps${integ !== null ? `, integrated ${integ.frames} frames into ${integ.radial.length} bins` : ''} → ${file}\n`);
              },
            },
            settings,
          );
          // the end summary: what was done, with what, at what cost in time and memory
          const frames = result.scans.reduce((a, x) => a + x.frames, 0);
          const hits = result.scans.reduce((a, x) => a + x.hits, 0);
          const threads = engine.backend === 'cpu' ? `, ${engine.threads} CPU thread(s)` : '';
          log('notice', `photon: ${result.scans.length} scan(s), ${frames} frames, ${hits} hits in ${((performance.now() - started) / 1000).toFixed(2)} s (${engine.backend}${threads}); peak RSS ${formatMiB(peakRssBytes())}`);
        });
      });
  },
};
