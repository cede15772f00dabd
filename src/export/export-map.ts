/**
 * `exportMap`: a merged table of a stage file (stage 'merge' or 'absolute')
 * expanded by the Laue group of the file's space group into a dense grid, and
 * written as
 *
 *   <prefix>.nxs                    NeXus/HDF5 (src/export/nexus.ts), NaN = unmeasured
 *   <prefix>.ccp4                   CCP4/MRC2014 (src/export/ccp4.ts), unmeasured = fill
 *   <prefix>_h0.png, _k0.png, _l0.png   the central planes (src/export/slices.ts)
 *
 * Everything is computed in memory first; each file is then written under a
 * hidden temporary name beside its target and, only when all of them are
 * written, renamed into place. A failure removes the temporary files and any
 * file of this run already renamed, so no partial or half-complete set of
 * outputs is left behind.
 *
 * This is the only place in src/export that calls the symmetry library; the
 * algorithms take the operator list as input.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { FileAccessError, InvalidValueError, MissingFieldError, UsageError } from '../errors.ts';
import { tempPathFor } from '../io/atomic-file.ts';
import { mergedOf, readStageFile } from '../io/observation-file.ts';
import { reciprocalOps, spaceGroup, type SpaceGroup } from '../symmetry/index.ts';
import { ccp4Bytes } from './ccp4.ts';
import { denseGrid, DEFAULT_MAX_GRID_BYTES } from './dense-grid.ts';
import { writeNexusMap } from './nexus.ts';
import { MAP_AXES, renderSlice, sliceAspect, slicePlane, type Colormap, type MapAxis, type SlicePlane } from './slices.ts';

export type ExportFormat = 'nexus' | 'ccp4' | 'png';
export const EXPORT_FORMATS: readonly ExportFormat[] = ['nexus', 'ccp4', 'png'];
export const EXPORT_STAGES: readonly string[] = ['merge', 'absolute'];

export interface ExportOptions {
  /** the stage file */
  input: string;
  /** an existing folder (or one ending in '/', created), or a path prefix whose folder exists */
  out: string;
  /** merged table name (default 'diffuse') */
  table?: string;
  formats?: readonly ExportFormat[];
  /** CCP4 value of unmeasured points (default 0) */
  fill?: number;
  /** refuse grids whose arrays would exceed this many bytes */
  maxBytes?: number;
  colormap?: Colormap;
  /** CCP4 header statistics over the measured points (default) or every written value */
  ccp4Stats?: 'measured' | 'written';
  /** the NeXus file_time and process date (ISO 8601); default: now (a fixed date makes reruns byte-identical) */
  date?: string;
  /**
   * how the map's provenance names the stage file (default: `input` as given);
   * `diffract run` gives it relative to the output folder, so that the map does
   * not depend on where the run lies
   */
  inputName?: string;
}

export interface ExportedFile {
  format: ExportFormat;
  path: string;
  bytes: number;
}

export interface ExportResult {
  input: string;
  stage: string;
  table: string;
  spaceGroup: string;
  hall: string;
  ndiv: [number, number, number];
  shape: [number, number, number];
  origin: [number, number, number];
  points: number;
  measured: number;
  fractionMeasured: number;
  rows: number;
  rowsSkipped: number;
  collisions: number;
  symmetryOps: number;
  files: ExportedFile[];
}

/** The package version (package.json beside src/), or 'unknown'. */
export function diffractVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : 'unknown';
  } catch {
    return 'unknown';
  }
}

/** The output prefix for `out`: a folder gets the input's stem, anything else is the prefix itself (a known extension dropped). */
export async function outputPrefix(input: string, out: string): Promise<string> {
  const stem = basename(input).replace(/\.(h5|hdf5|hdf|nxs)$/i, '');
  if (out.endsWith('/') || out.endsWith('\\')) {
    await mkdir(out, { recursive: true }).catch((err: unknown) => {
      throw new FileAccessError(`cannot create the output folder (${(err as NodeJS.ErrnoException).code ?? String(err)})`, { file: out });
    });
    return join(out, stem);
  }
  if (existsSync(out) && statSync(out).isDirectory()) return join(out, stem);
  const prefix = out.replace(/\.(nxs|ccp4|map|mrc|png)$/i, '');
  if (!existsSync(dirname(prefix))) throw new FileAccessError('the output folder does not exist', { file: out });
  return prefix;
}

/** The paths `exportMap` writes for a prefix. */
export function exportPaths(prefix: string): { nexus: string; ccp4: string; png: Record<MapAxis, string> } {
  return { nexus: `${prefix}.nxs`, ccp4: `${prefix}.ccp4`, png: { h: `${prefix}_h0.png`, k: `${prefix}_k0.png`, l: `${prefix}_l0.png` } };
}

/** The stage file's attributes as `input_*`; absolute paths become relative to the stage file's folder (the map must not depend on where the run lies). */
function stageAttrs(attrs: Record<string, unknown>, input: string): Record<string, string | number | readonly number[]> {
  const out: Record<string, string | number | readonly number[]> = {};
  for (const [k, v] of Object.entries(attrs)) {
    if (typeof v === 'string') out[`input_${k}`] = isAbsolute(v) ? relative(dirname(resolve(input)), v) : v;
    else if (typeof v === 'number' && Number.isFinite(v)) out[`input_${k}`] = v;
    else if (ArrayBuffer.isView(v) && !(v instanceof DataView) && !(v instanceof BigInt64Array) && !(v instanceof BigUint64Array)) out[`input_${k}`] = Array.from(v as unknown as ArrayLike<number>);
  }
  return out;
}

/** Reads, expands and writes (see the module comment). */
export async function exportMap(o: ExportOptions): Promise<ExportResult> {
  const formats = o.formats ?? EXPORT_FORMATS;
  if (formats.length === 0) throw new UsageError('no output format chosen', { field: 'format' });
  const tableName = o.table ?? 'diffuse';
  const sf = await readStageFile(o.input);
  if (!EXPORT_STAGES.includes(sf.stage)) {
    throw new InvalidValueError(`stage '${sf.stage}' has no merged map to export (need ${EXPORT_STAGES.map((s) => `'${s}'`).join(' or ')})`, { file: o.input, field: 'stage' });
  }
  const group = sf.groups.get(tableName);
  if (group === undefined || group.attrs.table !== 'merged') {
    const merged = [...sf.groups].filter(([, g]) => g.attrs.table === 'merged').map(([n]) => n);
    throw new MissingFieldError(`no merged table '${tableName}' (merged tables here: ${merged.length > 0 ? merged.join(', ') : 'none'})`, { file: o.input, field: tableName });
  }
  const merged = mergedOf(sf, tableName, o.input);
  const { meta } = sf;
  const hall = meta.hall;
  let g: SpaceGroup;
  try {
    g = spaceGroup(/^\s|^-|^hall\s*:/i.test(hall) ? hall : ` ${hall}`);
  } catch (err) {
    throw new InvalidValueError(`space group '${hall}': ${err instanceof Error ? err.message : String(err)}`, { file: o.input, field: 'hall' }, { cause: err });
  }
  const ops = reciprocalOps(g);
  const grid = denseGrid(merged, meta.ndiv, ops, { maxBytes: o.maxBytes ?? DEFAULT_MAX_GRID_BYTES });
  const prefix = await outputPrefix(o.input, o.out);
  const paths = exportPaths(prefix);
  const symbol = g.hm !== '' ? g.hm : hall.trim();
  const version = diffractVersion();
  const fill = o.fill ?? 0;
  const units = typeof sf.attrs.units === 'string' ? sf.attrs.units : typeof sf.attrs.intensity_units === 'string' ? sf.attrs.intensity_units : 'arbitrary';
  const longName = sf.stage === 'absolute' ? 'intensity (absolute scale)' : 'intensity (relative scale)';

  const planes: Record<MapAxis, SlicePlane> = { h: slicePlane(grid, 'h'), k: slicePlane(grid, 'k'), l: slicePlane(grid, 'l') };
  const sigmaPlanes: Record<MapAxis, SlicePlane> = { h: slicePlane({ ...grid, data: grid.sigma }, 'h'), k: slicePlane({ ...grid, data: grid.sigma }, 'k'), l: slicePlane({ ...grid, data: grid.sigma }, 'l') };

  // compute every payload before touching the output folder
  const blobs: { format: ExportFormat; path: string; bytes: Uint8Array }[] = [];
  if (formats.includes('ccp4')) {
    blobs.push({ format: 'ccp4', path: paths.ccp4, bytes: ccp4Bytes(grid, meta.cell, { fill, stats: o.ccp4Stats ?? 'measured', labels: [`${symbol} (Laue ${g.laueClass}) from ${basename(o.input)} table ${tableName}`, `diffract ${version}`] }) });
  }
  if (formats.includes('png')) {
    for (const axis of MAP_AXES) {
      const plane = planes[axis];
      blobs.push({ format: 'png', path: paths.png[axis], bytes: renderSlice(plane, { colormap: o.colormap ?? 'viridis', aspect: sliceAspect(plane, meta.cell) }).png });
    }
  }

  const temps: { tmp: string; path: string; format: ExportFormat }[] = [];
  const renamed: string[] = [];
  let current = prefix;
  try {
    if (formats.includes('nexus')) {
      const tmp = tempPathFor(paths.nexus);
      current = paths.nexus;
      temps.push({ tmp, path: paths.nexus, format: 'nexus' });
      await writeNexusMap(tmp, {
        grid,
        cell: meta.cell,
        spaceGroup: { symbol, hall: g.hall, number: g.number },
        units,
        longName,
        title: `${longName}, ${symbol}, from ${basename(o.input)}`,
        provenance: {
          program: 'diffract export',
          version,
          ...(o.date !== undefined ? { date: o.date } : {}),
          inputs: {
            stage_file: o.inputName ?? o.input,
            stage: sf.stage,
            table: tableName,
            ndiv: [...meta.ndiv],
            hall,
            wavelength: meta.wavelength,
            laue_class: g.laueClass,
            symmetry_ops: ops.length,
            merged_rows: grid.rowsUsed,
            ...stageAttrs(sf.attrs, o.input),
          },
        },
        slices: MAP_AXES.map((a) => ({ ...planes[a], sigma: sigmaPlanes[a].data })),
      });
    }
    for (const b of blobs) {
      const tmp = tempPathFor(b.path);
      current = b.path;
      temps.push({ tmp, path: b.path, format: b.format });
      await writeFile(tmp, b.bytes);
    }
    for (const t of temps) {
      current = t.path;
      await rename(t.tmp, t.path);
      renamed.push(t.path);
    }
  } catch (err) {
    // all or nothing: drop the temporaries and whatever this run already renamed into place
    await Promise.all([...temps.map((t) => rm(t.tmp, { force: true })), ...renamed.map((p) => rm(p, { force: true }))]);
    if (err instanceof Error && 'kind' in err) throw err;
    throw new FileAccessError(`cannot write the file (${(err as NodeJS.ErrnoException).code ?? String(err)}); no output of this run was kept`, { file: current }, { cause: err });
  }

  const files: ExportedFile[] = temps.map((t) => ({ format: t.format, path: t.path, bytes: statSync(t.path).size }));
  const points = grid.data.length;
  return {
    input: o.input,
    stage: sf.stage,
    table: tableName,
    spaceGroup: symbol,
    hall: g.hall,
    ndiv: [meta.ndiv[0], meta.ndiv[1], meta.ndiv[2]],
    shape: grid.shape,
    origin: grid.origin,
    points,
    measured: grid.measured,
    fractionMeasured: points > 0 ? grid.measured / points : 0,
    rows: grid.rowsUsed,
    rowsSkipped: grid.rowsSkipped,
    collisions: grid.collisions,
    symmetryOps: ops.length,
    files,
  };
}

