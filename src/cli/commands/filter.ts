/**
 * `diffract filter EXPT --out FILE.h5`: the Poisson filter alone — every
 * occupied subvoxel with its pixel·frames, counts, the neighbourhood's
 * weighted-median rate λ, its KL divergence from Poisson(λ), ΔD and whether
 * the filter excluded it (tables: voxels, wedges; layout: docs/tables.md).
 * Same options as `diffract integrate`.
 */
import type { Command } from 'commander';
import { AppendableTable } from '../../io/voxel-tables.ts';
import { wedgeFilterTable, wedgeTables } from '../../pipeline/voxel-integrate.ts';
import type { CommandSpec } from '../registry.ts';
import { addVoxelOptions, filterColumns, runVoxelCommand, type VoxelCliOptions } from './integrate.ts';

export const filterCommand: CommandSpec = {
  name: 'filter',
  register(program) {
    addVoxelOptions(
      program.command('filter').description('run the Poisson outlier filter (Bragg-peak removal) and write its per-subvoxel statistics and mask (tables: voxels, wedges)'),
    ).action(async (expt: string, o: VoxelCliOptions, cmd: Command) => {
      let voxels: AppendableTable | undefined;
      const log = await runVoxelCommand(
        'filter',
        expt,
        o,
        cmd,
        (file, r, wl) => {
          voxels ??= new AppendableTable(file, 'voxels');
          voxels.append(filterColumns(wedgeFilterTable(r)));
          const t = wedgeTables(r);
          wl.add(r, t.included, t.excluded);
        },
        () => voxels?.close(),
      );
      process.stdout.write(o.json ? `${JSON.stringify({ out: o.out, wedges: log.rows })}\n` : `${log.summaryLines().join('\n')}\nwrote ${o.out}\n`);
    });
  },
};
