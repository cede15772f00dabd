/**
 * `diffract filter EXPT --out FILE.h5`: the Poisson filter alone — every
 * occupied subvoxel with its pixel·frames, counts, the neighbourhood's
 * weighted-median rate λ, its KL divergence from Poisson(λ), ΔD and whether
 * the filter excluded it (tables: voxels, wedges; layout: docs/tables.md).
 * Same options and stage as `diffract integrate` (src/stages/integrate.ts).
 */
import type { Command } from 'commander';
import { filterColumns } from '../../io/integrate-file.ts';
import { AppendableTable } from '../../io/voxel-tables.ts';
import { wedgeFilterTable } from '../../pipeline/voxel-integrate.ts';
import type { CommandSpec } from '../command-spec.ts';
import { addVoxelOptions, resourceLine, runVoxelCommand, wedgeSummaryLines, type VoxelCliOptions } from './integrate.ts';

export const filterCommand: CommandSpec = {
  name: 'filter',
  register(program) {
    addVoxelOptions(
      program.command('filter').description('run the Poisson outlier filter (Bragg-peak removal) and write its per-subvoxel statistics and mask (tables: voxels, wedges)'),
    ).action(async (expt: string, o: VoxelCliOptions, cmd: Command) => {
      const { rows, timings } = await runVoxelCommand('filter', expt, o, cmd, (file) => {
        let voxels: AppendableTable | undefined;
        return {
          add: (w) => {
            voxels ??= new AppendableTable(file, 'voxels');
            voxels.append(filterColumns(wedgeFilterTable(w.result)));
          },
          close: () => voxels?.close(),
        };
      });
      process.stdout.write(
        o.json
          ? `${JSON.stringify({ out: o.out, wedges: rows, threads: timings.threads, peakRssBytes: timings.peakRssBytes })}\n`
          : `${wedgeSummaryLines(rows).join('\n')}\n${resourceLine(timings)}\nwrote ${o.out}\n`,
      );
    });
  },
};
