/**
 * `diffract view SOURCE… [--port N] [--host ADDR] [--roi …] [--poni FILE]
 * [--threshold T] …`: the live viewer. Replays or consumes the sources through
 * a PhotonSession and serves a local web page (src/viewer/) with the
 * accumulated image, draggable ROIs, q rings from a PONI geometry, ROI-vs-motor
 * plots and the energy histogram. Runs until interrupted (Ctrl-C).
 */
import type { Command } from 'commander';
import { UsageError } from '../../errors.ts';
import { readPoni } from '../../io/poni.ts';
import type { PhotonMode } from '../../kernels/photon-detect.ts';
import { parseRoiSpec, readRoisArg, type Roi } from '../../photon/roi.ts';
import type { Correction, PhotonConfig } from '../../photon/session.ts';
import { checkSourceSpec } from '../../viewer/live.ts';
import { DEFAULT_PORT, startViewer } from '../../viewer/server.ts';
import { checkAllowFolders } from '../../viewer/source-allow.ts';
import { withEngine } from '../engine-options.ts';
import type { CommandSpec } from '../command-spec.ts';

interface ViewOptions {
  port: string;
  host: string;
  roi?: string[];
  poni?: string;
  q?: string;
  photons: boolean;
  threshold?: string;
  emin?: string;
  mode?: string;
  hist?: string;
  roiSource?: string;
  correction: string;
  fps: string;
  loop?: boolean;
  batch: string;
  stopped?: boolean;
  allow?: string[];
}

function num(text: string, flag: string, check: (v: number) => boolean = Number.isFinite, what = 'a number'): number {
  const v = Number(text);
  if (text.trim() === '' || !check(v)) throw new UsageError(`${flag} must be ${what}, got '${text}'`, { field: flag });
  return v;
}

/**
 * `--roi` values: `NAME=r0:r1,c0:c1`, `r0:r1,c0:c1` (named roi1, roi2, …), or
 * JSON of named ROIs / a file holding it (see src/photon/roi.ts).
 */
export function parseRoiArgs(values: readonly string[]): Record<string, Roi> {
  const out: Record<string, Roi> = {};
  let k = 1;
  for (const v of values) {
    const named = /^([A-Za-z_][\w.-]*)=(.*)$/.exec(v);
    if (named !== null) {
      out[named[1] as string] = parseRoiSpec(named[2] as string, named[1] as string);
    } else if (/^\s*-?\d+\s*:/.test(v)) {
      while (out[`roi${k}`] !== undefined) k++;
      out[`roi${k}`] = parseRoiSpec(v, `roi${k}`);
    } else {
      Object.assign(out, readRoisArg(v));
    }
  }
  return out;
}

function photonConfig(o: ViewOptions): PhotonConfig | null {
  const given = [o.threshold !== undefined && '--threshold', o.emin !== undefined && '--emin', o.mode !== undefined && '--mode', o.hist !== undefined && '--hist'].filter(Boolean);
  if (!o.photons) {
    if (given.length > 0) throw new UsageError(`${given.join(', ')} set photon detection, which --no-photons turns off`, { field: '--no-photons' });
    return null;
  }
  const cfg: PhotonConfig = {};
  if (o.threshold !== undefined) cfg.threshold = num(o.threshold, '--threshold');
  if (o.emin !== undefined) cfg.emin = num(o.emin, '--emin');
  if (o.mode !== undefined) {
    if (o.mode !== 'reference' && o.mode !== 'local-max') throw new UsageError(`--mode must be reference or local-max, got '${o.mode}'`, { field: '--mode' });
    cfg.mode = o.mode satisfies PhotonMode;
  }
  if (o.hist !== undefined) {
    const m = /^\s*(-?[\d.eE+-]+)\s*:\s*(-?[\d.eE+-]+)\s*(?::\s*(\d+)\s*)?$/.exec(o.hist);
    const min = m !== null ? Number(m[1]) : NaN;
    const max = m !== null ? Number(m[2]) : NaN;
    const bins = m?.[3] !== undefined ? Number(m[3]) : 250;
    if (!Number.isFinite(min) || !Number.isFinite(max) || !(max > min) || !Number.isInteger(bins) || bins < 1 || bins > 100_000) {
      throw new UsageError(`--hist must be MIN:MAX[:BINS] with MAX > MIN and 1–100000 bins, got '${o.hist}'`, { field: '--hist' });
    }
    cfg.histogram = { min, max, bins };
  }
  return cfg;
}

/** `--correction`: auto | none | cmos[:DARK[:ZERO_BELOW]]. */
export function parseCorrection(text: string): Correction | 'auto' {
  if (text === 'auto') return 'auto';
  if (text === 'none') return { kind: 'none' };
  const m = /^cmos(?::([^:]+))?(?::([^:]+))?$/.exec(text);
  if (m === null) throw new UsageError(`--correction must be auto, none or cmos[:DARK[:ZERO_BELOW]], got '${text}'`, { field: '--correction' });
  const c: Correction = { kind: 'cmos' };
  if (m[1] !== undefined) c.dark = num(m[1], '--correction (dark level)');
  if (m[2] !== undefined) c.zeroBelow = num(m[2], '--correction (zero below)');
  return c;
}

export const viewCommand: CommandSpec = {
  name: 'view',
  register(program) {
    program
      .command('view')
      .description('serve a live web page (loopback only by default) showing sources as they are reduced: accumulated image, ROIs, q rings, ROI-vs-motor plots, energy histogram')
      .argument('<sources...>', '.cbors[.gz] recording, FILE.h5[:/dataset] or tcp://host:port (ZeroMQ stream1); several (a detector and its Sardana recording) are merged by event number')
      .option('--port <n>', `TCP port (0 = any free port)`, String(DEFAULT_PORT))
      .option('--host <addr>', 'address to listen on; anything but loopback exposes the viewer to the network', '127.0.0.1')
      .option('--roi <spec>', 'a mean ROI, repeatable: NAME=r0:r1,c0:c1, r0:r1,c0:c1, or JSON of named ROIs / a file holding it; the ROI named photon is the photon-detection ROI', (v: string, prev: string[] | undefined) => [...(prev ?? []), v])
      .option('--poni <file>', 'pyFAI PONI file: the geometry for q rings and azimuthal integration')
      .option('--q <values>', 'q values (Å⁻¹, comma-separated) of the rings to draw, e.g. 1.5115,2.1376')
      .option('--no-photons', 'no photon detection (no energy histogram; ROI means on the image)')
      .option('--threshold <T>', 'photon counting threshold on raw values (default 108)')
      .option('--emin <E>', 'accept photon hits with energy above E (default 1100)')
      .option('--mode <m>', 'photon detection mode: reference | local-max (default reference)')
      .option('--hist <min:max[:bins]>', 'energy histogram range and bins (default 0:5000:250)')
      .option('--roi-source <s>', 'ROI means on the corrected image or on detected photons: image | photons (default photons when detection is on)')
      .option('--correction <c>', 'image correction: auto (CMOS for 8/16-bit frames, else none) | none | cmos[:DARK[:ZERO_BELOW]] (default dark 100, zero below 12)', 'auto')
      .option('--fps <n>', 'replay at most n frames per second (0 = as fast as they are read)', '0')
      .option('--loop', 'replay recordings again when they end')
      .option('--batch <n>', 'frames per photon-detection batch', '1')
      .option('--stopped', 'start with accumulation stopped')
      .option('--allow <dir>', 'a folder whose files the page may switch to (repeatable); without it, only the sources given here', (v: string, prev: string[] | undefined) => [...(prev ?? []), v])
      .action(async (sources: string[], o: ViewOptions, cmd: Command) => {
        const port = num(o.port, '--port', (v) => Number.isInteger(v) && v >= 0 && v <= 65535, 'an integer in 0–65535');
        const fps = num(o.fps, '--fps', (v) => v >= 0, 'a number ≥ 0');
        const batchSize = num(o.batch, '--batch', (v) => Number.isInteger(v) && v >= 1, 'a positive integer');
        for (const s of sources) checkSourceSpec(s);
        checkAllowFolders(o.allow ?? []);
        const rois = parseRoiArgs(o.roi ?? []);
        const poni = o.poni !== undefined ? readPoni(o.poni) : null;
        const q = o.q !== undefined ? o.q.split(',').map((t) => num(t, '--q', (v) => v > 0, 'positive numbers (Å⁻¹)')) : [];
        if (o.roiSource !== undefined && o.roiSource !== 'image' && o.roiSource !== 'photons') throw new UsageError(`--roi-source must be image or photons, got '${o.roiSource}'`, { field: '--roi-source' });
        const photon = photonConfig(o);
        const correction = parseCorrection(o.correction);
        if (o.roiSource === 'photons' && photon === null) throw new UsageError('--roi-source photons needs photon detection (drop --no-photons)', { field: '--roi-source' });
        await withEngine(cmd, async (engine) => {
          const viewer = await startViewer({
            engine,
            sources,
            photon,
            correction,
            ...(o.roiSource !== undefined ? { roiSource: o.roiSource as 'image' | 'photons' } : {}),
            rois,
            poni,
            q,
            fps,
            loop: o.loop === true,
            batchSize,
            accumulate: o.stopped !== true,
            host: o.host,
            port,
            allowFolders: o.allow ?? [],
          });
          process.stdout.write(`viewer: ${viewer.url} (${engine.backend === 'gpu' ? `GPU: ${engine.deviceName}` : 'CPU'}; Ctrl-C to stop)\n`);
          await new Promise<void>((resolvePromise) => {
            const stop = (): void => {
              process.off('SIGINT', stop);
              process.off('SIGTERM', stop);
              resolvePromise();
            };
            process.on('SIGINT', stop);
            process.on('SIGTERM', stop);
          });
          await viewer.close();
        });
      });
  },
};
