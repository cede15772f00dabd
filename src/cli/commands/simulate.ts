/**
 * `diffract simulate --out DIR [--frames N] [--size small|medium|large] [--seed S] [--json]`:
 * writes a simulated rotation series with known truth (CBF frames, a DIALS
 * .expt, and the truth files described in docs/simulate.md). Progress goes to
 * stderr every `--progress-every` frames; the summary to stdout.
 *
 * `diffract simulate --stills --out DIR [--shots N] [--size PIXELS] [--seed S]`:
 * a serial (stills) dataset instead (src/sim/stills/): one CBF per shot, a DIALS
 * stills .expt + .refl, the pulse-energy CSV and truth.json.
 */
import type { Command } from 'commander';
import { UsageError } from '../../errors.ts';
import { simulate, type SimulationResult } from '../../sim/simulate.ts';
import { electronUnitSpec, SIM_SIZES, type SimSize, sizedSpec } from '../../sim/spec.ts';
import { simulateStills, type StillsSimulationResult } from '../../sim/stills/simulate.ts';
import { stillsSpec } from '../../sim/stills/spec.ts';
import { log } from '../../util/log.ts';
import { globalOptions } from '../engine-options.ts';
import type { CommandSpec } from '../command-spec.ts';

interface SimulateCliOptions {
  out?: string;
  frames?: string;
  size: string;
  seed: string;
  progressEvery: string;
  electronUnits?: boolean;
  json?: boolean;
  stills?: boolean;
  shots?: string;
}

/** The default panel edge (pixels) of a stills simulation, and its range. */
export const STILLS_DEFAULT_SIZE = 256;

/** `--size` of a stills simulation: 'small' (the option's default) or an even pixel count 64…2048. */
export function stillsPanelSize(text: string): number {
  if (text === 'small') return STILLS_DEFAULT_SIZE;
  const v = Number(text);
  if (!/^\s*\d+\s*$/.test(text) || !(v >= 64 && v <= 2048 && v % 2 === 0)) {
    throw new UsageError(`--size with --stills must be an even number of pixels in 64…2048, got '${text}'`, { field: '--size' });
  }
  return v;
}

export function formatStillsSummary(r: StillsSimulationResult): string {
  return [
    `simulated ${r.shots} stills of ${r.width}×${r.height} px in ${r.seconds.toFixed(1)} s`,
    `  images:      ${r.outDir}/still_NNNNNN.cbf`,
    `  experiments: ${r.expt}`,
    `  reflections: ${r.reflections} in ${r.refl}`,
    `  p_order:     ${r.pulseCsv} (shot, pulse_energy)`,
    `  truth:       ${r.truth}`,
  ].join('\n');
}

function parseCount(text: string, flag: string, max: number): number {
  if (!/^\s*\d+\s*$/.test(text)) throw new UsageError(`${flag} must be a positive integer, got '${text}'`, { field: flag });
  const v = Number(text);
  if (!(v >= 1 && v <= max)) throw new UsageError(`${flag} must lie in 1…${max}, got ${v}`, { field: flag });
  return v;
}

export function formatSimulationSummary(r: SimulationResult): string {
  return [
    `simulated ${r.frames} frames of ${r.width}×${r.height} px in ${r.seconds.toFixed(1)} s`,
    `  frames:      ${r.template}`,
    `  experiments: ${r.expt}`,
    `  truth:       ${r.truth} (diffuse grid ${r.truthShape.join('×')} in ${r.truthDiffuse})`,
    `  Bragg:       ${r.predictedReflections} predicted reflections in ${r.truthReflections}`,
  ].join('\n');
}

export const simulateCommand: CommandSpec = {
  name: 'simulate',
  register(program) {
    program
      .command('simulate')
      .description('write a simulated rotation series (CBF frames + DIALS .expt) with its ground truth (see docs/simulate.md)')
      .requiredOption('--out <dir>', 'output folder (created when missing)')
      .option('--frames <n>', 'number of frames (default: that of the size)')
      .option('--size <size>', `dataset size: ${SIM_SIZES.join(' | ')}`, 'small')
      .option('--seed <n>', 'random seed (orientation, bad pixels, Bragg intensities, noise)', '1')
      .option('--progress-every <n>', 'a progress line on stderr every n frames', '10')
      .option('--electron-units', 'intensities in electron units from a cell composition, with frame drift, absorption pattern and offset to undo (src/sim/electron-units.ts)')
      .option('--json', 'print the summary as JSON')
      .option('--stills', 'a serial (stills) dataset: random orientations, partial spots, per-shot scale with pulse energy (docs/simulate.md, "Stills")')
      .option('--shots <n>', 'with --stills: number of shots', '500')
      .action(async (opts: SimulateCliOptions, cmd: Command) => {
        globalOptions(cmd);
        if (opts.stills === true) {
          await simulateStillsCli(opts);
          return;
        }
        if (cmd.getOptionValueSource('shots') === 'cli') throw new UsageError('--shots needs --stills', { field: '--shots' });
        if (!(SIM_SIZES as readonly string[]).includes(opts.size)) {
          throw new UsageError(`--size must be one of ${SIM_SIZES.join(', ')}, got '${opts.size}'`, { field: '--size' });
        }
        if (!/^\s*\d+\s*$/.test(opts.seed) || !Number.isSafeInteger(Number(opts.seed)) || Number(opts.seed) > 0xffffffff) {
          throw new UsageError(`--seed must be an integer in 0…4294967295, got '${opts.seed}'`, { field: '--seed' });
        }
        const every = parseCount(opts.progressEvery, '--progress-every', 1e9);
        const spec = opts.electronUnits === true ? electronUnitSpec(opts.size as SimSize, Number(opts.seed)) : sizedSpec(opts.size as SimSize, Number(opts.seed));
        if (opts.frames !== undefined) spec.scan.frames = parseCount(opts.frames, '--frames', 99999);
        if (opts.out === undefined || opts.out.trim() === '') throw new UsageError('--out needs a folder', { field: '--out' });
        const total = spec.scan.frames;
        log('info', `simulate: ${opts.size} series, ${total} frames, seed ${spec.seed} → ${opts.out}`);
        const t0 = performance.now();
        const result = await simulate(spec, opts.out, {
          onFrame: ({ index }) => {
            const done = index + 1;
            if (done % every === 0 || done === total) {
              const s = (performance.now() - t0) / 1000;
              log('info', `simulate: ${done}/${total} frames (${(done / Math.max(s, 1e-3)).toFixed(1)} frames/s)`, { stage: 'simulate', done, total });
            }
          },
        });
        if (opts.json) {
          const { frameHashes, ...rest } = result;
          process.stdout.write(`${JSON.stringify({ ...rest, frameSha256: frameHashes })}\n`);
        } else {
          process.stdout.write(`${formatSimulationSummary(result)}\n`);
        }
      });
  },
};

async function simulateStillsCli(opts: SimulateCliOptions): Promise<void> {
  if (opts.frames !== undefined) throw new UsageError('--frames is for rotation series; stills take --shots', { field: '--frames' });
  if (!/^\s*\d+\s*$/.test(opts.seed) || !Number.isSafeInteger(Number(opts.seed)) || Number(opts.seed) > 0xffffffff) {
    throw new UsageError(`--seed must be an integer in 0…4294967295, got '${opts.seed}'`, { field: '--seed' });
  }
  if (opts.out === undefined || opts.out.trim() === '') throw new UsageError('--out needs a folder', { field: '--out' });
  const shots = parseCount(opts.shots ?? '500', '--shots', 999999);
  const every = parseCount(opts.progressEvery, '--progress-every', 1e9);
  const spec = stillsSpec({ shots, size: stillsPanelSize(opts.size), seed: Number(opts.seed) });
  log('info', `simulate: ${shots} stills, seed ${spec.base.seed} → ${opts.out}`);
  const t0 = performance.now();
  const result = await simulateStills(spec, opts.out, {
    onShot: (shot) => {
      const done = shot.index + 1;
      if (done % every === 0 || done === shots) {
        const s = (performance.now() - t0) / 1000;
        log('info', `simulate: ${done}/${shots} shots (${(done / Math.max(s, 1e-3)).toFixed(1)} shots/s)`, { stage: 'simulate', done, total: shots });
      }
    },
  });
  if (opts.json) {
    const { truthShots, ...rest } = result;
    process.stdout.write(`${JSON.stringify({ ...rest, shotSha256: truthShots.map((t) => t.sha256) })}\n`);
  } else {
    process.stdout.write(`${formatStillsSummary(result)}\n`);
  }
}
