/**
 * `diffract hkl EXPT --xyz x,y,z …`: fractional Miller indices at detector
 * positions. Positions are pixel coordinates with pixel corners at integers and
 * z the scan-frame coordinate, as DIALS `xyzcal.px`.
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { FileAccessError, InvalidValueError, UsageError } from '../../errors.ts';
import { loadExperiments, pickExperiment } from '../../geometry/load.ts';
import { hklAtPositions, type DetectorPosition } from '../../pipeline/hkl-positions.ts';
import { withEngine } from '../engine-options.ts';
import type { CommandSpec } from '../command-spec.ts';

function parseTriple(text: string, panel: number, where: { file?: string; field: string }): DetectorPosition {
  const parts = text.trim().split(/[\s,]+/).filter((s) => s.length > 0).map(Number);
  if ((parts.length !== 3 && parts.length !== 4) || parts.some((v) => !Number.isFinite(v))) {
    throw new InvalidValueError(`expected x,y,z or x,y,z,panel, got '${text.trim()}'`, where);
  }
  const [x, y, z, p] = parts as [number, number, number, number | undefined];
  return { x, y, z, panel: p ?? panel };
}

/** Reads positions from a text file (one `x y z [panel]` per line, `#` comments) or a JSON array. */
export function readPositionsFile(file: string, panel: number): DetectorPosition[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new FileAccessError(`cannot read positions: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { file });
  }
  const trimmed = text.trim();
  if (trimmed.startsWith('[')) {
    let data: unknown;
    try {
      data = JSON.parse(trimmed);
    } catch (err) {
      throw new InvalidValueError(`not valid JSON: ${(err as Error).message}`, { file });
    }
    if (!Array.isArray(data)) throw new InvalidValueError('expected a JSON array of positions', { file });
    return data.map((item: unknown, i) => {
      const field = `[${i}]`;
      if (Array.isArray(item)) return parseTriple(item.join(','), panel, { file, field });
      if (item !== null && typeof item === 'object') {
        const o = item as Record<string, unknown>;
        const vals = [o.x, o.y, o.z];
        if (!vals.every((v) => typeof v === 'number')) throw new InvalidValueError('position needs numeric x, y, z', { file, field });
        return { x: o.x as number, y: o.y as number, z: o.z as number, panel: typeof o.panel === 'number' ? o.panel : panel };
      }
      throw new InvalidValueError('position must be [x, y, z] or {x, y, z}', { file, field });
    });
  }
  const out: DetectorPosition[] = [];
  text.split('\n').forEach((line, i) => {
    const content = line.replace(/#.*/, '').trim();
    if (content) out.push(parseTriple(content, panel, { file, field: `line ${i + 1}` }));
  });
  return out;
}

export const hklCommand: CommandSpec = {
  name: 'hkl',
  register(program) {
    program
      .command('hkl')
      .description('fractional hkl at detector positions (pixel corners at integers; z = scan frame coordinate, as DIALS xyzcal.px)')
      .argument('<expt>', 'DIALS .expt, or XDS.INP / GXPARM.XDS (or their folder)')
      .option('--xyz <x,y,z>', 'a position (repeatable)', (v: string, acc: string[]) => [...acc, v], [] as string[])
      .option('--positions <file>', 'positions file: lines of "x y z [panel]" or a JSON array')
      .option('--panel <n>', 'panel of positions that do not name one', '0')
      .option('--experiment <n>', 'experiment index in the list', '0')
      .option('--json', 'print JSON')
      .action(async (expt: string, opts: { xyz: string[]; positions?: string; panel: string; experiment: string; json?: boolean }, cmd: Command) => {
        const panel = Number(opts.panel);
        const expIndex = Number(opts.experiment);
        if (!Number.isInteger(panel) || panel < 0) throw new UsageError(`--panel must be a non-negative integer, got '${opts.panel}'`, { field: '--panel' });
        if (!Number.isInteger(expIndex) || expIndex < 0) throw new UsageError(`--experiment must be a non-negative integer, got '${opts.experiment}'`, { field: '--experiment' });
        const positions = opts.xyz.map((t) => parseTriple(t, panel, { field: '--xyz' }));
        if (opts.positions) positions.push(...readPositionsFile(opts.positions, panel));
        if (positions.length === 0) throw new UsageError('give at least one position with --xyz or --positions', { field: '--xyz' });
        const exp = pickExperiment(await loadExperiments(expt), expIndex);
        const table = await withEngine(cmd, (engine) => hklAtPositions(engine, exp, positions));
        const rows = positions.map((p, i) => ({ ...p, h: table.h[i] as number, k: table.k[i] as number, l: table.l[i] as number }));
        if (opts.json) {
          process.stdout.write(`${JSON.stringify(rows)}\n`);
        } else {
          for (const r of rows) {
            process.stdout.write(`${r.x} ${r.y} ${r.z} panel ${r.panel}: h=${r.h.toFixed(4)} k=${r.k.toFixed(4)} l=${r.l.toFixed(4)}\n`);
          }
        }
      });
  },
};
