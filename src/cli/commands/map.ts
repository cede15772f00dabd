/**
 * `diffract map EXPT [--images FILE…]`: map every pixel of every frame of a
 * rotation series to fractional hkl (frames at their mid-rotation angle), and
 * report per frame how many of the strongest pixels sit on integer hkl.
 */
import type { Command } from 'commander';
import { UsageError } from '../../errors.ts';
import { loadExperiments, pickExperiment } from '../../geometry/load.ts';
import { openExperimentFrames } from '../../io/sources/experiment.ts';
import { mapSeriesReport, type SeriesMapReport } from '../../pipeline/map-report.ts';
import { withEngine } from '../engine-options.ts';
import { startProgress } from '../progress.ts';
import type { CommandSpec } from '../command-spec.ts';

export function formatMapReport(r: SeriesMapReport): string {
  const lines = r.perFrame.map(
    (f) =>
      `  frame ${String(f.offset).padStart(4)}: ${f.validPixels} valid px, strongest ${f.strongPixels}: ${(100 * f.strongNearInteger).toFixed(1)}% on integer hkl (all pixels ${(100 * f.allNearInteger).toFixed(1)}%)`,
  );
  lines.push(
    `mapped ${r.frames} frames (${(r.pixelFrames / 1e6).toFixed(2)} M pixel·frames) on ${r.backend} [${r.device}] in ${r.seconds.toFixed(2)} s; ` +
      `strongest pixels on integer hkl: ${(100 * r.strongNearInteger).toFixed(1)}% vs ${(100 * r.allNearInteger).toFixed(1)}% of all pixels`,
  );
  return lines.join('\n');
}

export const mapCommand: CommandSpec = {
  name: 'map',
  register(program) {
    program
      .command('map')
      .description('map every pixel of every frame to fractional hkl and report how the strongest pixels fall on integer hkl')
      .argument('<expt>', 'DIALS .expt (its imageset template names the images), or XDS.INP / GXPARM.XDS')
      .option('--images <files...>', "the frames instead of the experiment's images: CBF/SMV files, or one Eiger/NeXus HDF5 master or data file, or a stream recording")
      .option('--experiment <n>', 'experiment index in the list', '0')
      .option('--batch <n>', 'frames per kernel call', '4')
      .option('--strong <n>', 'strongest pixels per frame to check', '200')
      .option('--json', 'print the report as JSON')
      .action(async (expt: string, opts: { images?: string[]; experiment: string; batch: string; strong: string; json?: boolean }, cmd: Command) => {
        const ints = { '--experiment': opts.experiment, '--batch': opts.batch, '--strong': opts.strong };
        for (const [k, v] of Object.entries(ints)) {
          if (!/^\d+$/.test(v)) throw new UsageError(`${k} must be a non-negative integer, got '${v}'`, { field: k });
        }
        const exp = pickExperiment(await loadExperiments(expt), Number(opts.experiment));
        const series = await openExperimentFrames(exp, expt, opts.images);
        const report = await withEngine(cmd, async (engine) => {
          const progress = startProgress('map', series.length);
          try {
            return await mapSeriesReport(engine, exp, series, { batchFrames: Math.max(1, Number(opts.batch)), strongCount: Number(opts.strong), onFrame: (d) => progress.update(d) });
          } finally {
            progress.stop();
          }
        });
        process.stdout.write(opts.json ? `${JSON.stringify(report)}\n` : `${formatMapReport(report)}\n`);
      });
  },
};
