/**
 * Where the frames of an HDF5 file are: the datasets of a plain data file or
 * of a NeXus/Eiger master (`/entry/data/data_NNNNNN` entries, usually
 * external links to data files beside the master, taken in name order and
 * concatenated), their frame shape and pixel type. Shared by the frame reader
 * (eiger-h5.ts) and the NeXus geometry reader (nexus-geometry.ts), so neither
 * imports the other.
 *
 * Dataset choice: a named `dataset`; else the `data_NNNNNN` entries of
 * `/entry/data` when it has them; else the first of `candidates` (default
 * `/entry/data/data`) that exists.
 */
import { existsSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import h5wasm, { Dataset, ExternalLink, Group } from 'h5wasm/node';
import { FileAccessError, FormatError, MissingFieldError, invariant } from '../errors.ts';
import { checkHdf5File, errMessage, h5Guard, readQuietly, type H5File } from './hdf5.ts';
import type { FrameType, StoredArray } from './sources/frame-source.ts';

export { errMessage } from './hdf5.ts';

/** The dataset read when none is named and the file has no `/entry/data/data_NNNNNN` entries. */
export const DEFAULT_DATASET = '/entry/data/data';

/** Pixel types read from HDF5: the frame-source layer's stored types (integers, and floats of calibrated detectors and photon stacks). */
export type PixelType = FrameType;
/** One frame as stored (row-major, index = y·width + x). */
export type NativeFrame = StoredArray;

/** One dataset of the series (a data file, or the master itself). */
export interface DataBlock {
  /** the file holding the dataset (resolved path) */
  file: string;
  /** dataset path inside `file` */
  dataset: string;
  /** frames in this dataset */
  frames: number;
  /** index of its first frame in the concatenated dataset */
  start: number;
  /** the master entry that led here (e.g. '/entry/data/data_000001'), when different from `dataset` in `file` */
  link?: string;
}

/** Where the frames of a file are and what they look like. */
export interface Hdf5Layout {
  /** the file named by the caller */
  file: string;
  blocks: readonly DataBlock[];
  /** frames in all blocks together */
  frames: number;
  /** fast size (pixels) */
  width: number;
  /** slow size (pixels) */
  height: number;
  pixelType: PixelType;
  /** names of the compression filters of the first block */
  filters: readonly string[];
}


/** Opens an HDF5 file read-only; a missing or unreadable file is a FileAccessError/FormatError naming it. */
export function openH5(path: string, why = 'no such file'): H5File {
  if (!existsSync(path)) throw new FileAccessError(why, { file: path });
  checkHdf5File(path);
  return readQuietly(path, () => new h5wasm.File(path, 'r'), 'not a readable HDF5 file');
}

function pixelTypeOf(ds: Dataset, file: string, path: string): PixelType {
  const m = ds.metadata;
  if (m.type === 1) {
    // HDF5 type class 1: floating point
    if (m.size === 4 || m.size === 8) return m.size === 4 ? 'float32' : 'float64';
    throw new FormatError(`unsupported pixel type float${m.size * 8} (32- or 64-bit floats)`, { file, field: path });
  }
  if (m.type !== 0) throw new FormatError(`dataset is neither integer nor float (HDF5 type class ${m.type}); detector frames must be numbers`, { file, field: path });
  const t = `${m.signed ? 'int' : 'uint'}${m.size * 8}`;
  if (t === 'uint8' || t === 'int8' || t === 'uint16' || t === 'int16' || t === 'uint32' || t === 'int32') return t;
  throw new FormatError(`unsupported pixel type ${t} (8-, 16- or 32-bit integers)`, { file, field: path });
}

interface BlockShape {
  frames: number;
  height: number;
  width: number;
  pixelType: PixelType;
  filters: string[];
}

function shapeOf(ds: Dataset, file: string, path: string): BlockShape {
  const shape = ds.shape;
  if (shape === null || (shape.length !== 3 && shape.length !== 2)) {
    throw new FormatError(`dataset has shape [${shape?.join(', ') ?? ''}]; expected [frames, slow, fast] or [slow, fast]`, { file, field: path });
  }
  const dims = shape.length === 3 ? shape : [1, ...shape];
  const [frames, height, width] = dims as [number, number, number];
  if (!(height > 0 && width > 0)) throw new FormatError(`dataset has an empty frame shape [${shape.join(', ')}]`, { file, field: path });
  return { frames, height, width, pixelType: pixelTypeOf(ds, file, path), filters: ds.filters.map((f) => `${f.id}${f.name ? ` (${f.name.split(';')[0]})` : ''}`) };
}

/** The target of external link `path` of the master, opened directly. */
function resolveExternal(masterPath: string, path: string, filename: string, objPath: string): { block: Omit<DataBlock, 'start'>; shape: BlockShape } {
  const target = isAbsolute(filename) ? filename : join(dirname(masterPath), filename);
  const targetPath = objPath.startsWith('/') ? objPath : `/${objPath}`;
  const f = openH5(target, `no such file (external link ${path} of ${masterPath})`);
  try {
    const ds = f.get(targetPath);
    if (!(ds instanceof Dataset)) {
      throw new MissingFieldError(`no dataset here (target of external link ${path} in ${masterPath})`, { file: target, field: targetPath });
    }
    return { block: { file: target, dataset: targetPath, frames: 0, link: path }, shape: shapeOf(ds, target, targetPath) };
  } finally {
    f.close();
  }
}

/** The dataset at `path` in `file` (following one external link), as a block description. */
function resolveEntry(master: H5File, masterPath: string, path: string): { block: Omit<DataBlock, 'start'>; shape: BlockShape } {
  const entity = master.get(path);
  // h5wasm follows an external link whose file it finds (get() then gives the target Dataset); read the
  // link itself so that the data file is opened directly and named in errors
  let ext: { filename?: string; obj_path?: string } = {};
  if (entity !== null) {
    try {
      ext = master.get_external_link(path);
    } catch {
      ext = {};
    }
  }
  if (ext.filename !== undefined && ext.obj_path !== undefined) return resolveExternal(masterPath, path, ext.filename, ext.obj_path);
  if (entity instanceof Dataset) {
    return { block: { file: masterPath, dataset: path, frames: 0 }, shape: shapeOf(entity, masterPath, path) };
  }
  if (entity instanceof ExternalLink) return resolveExternal(masterPath, path, entity.filename, entity.obj_path);
  if (entity === null) throw new MissingFieldError('no such dataset', { file: masterPath, field: path });
  throw new FormatError(`not a dataset (${entity instanceof Group ? 'a group' : 'a dangling link'})`, { file: masterPath, field: path });
}

/**
 * The datasets a file's frames are in (see the module comment for the rules).
 * Needs `h5Plugins()` resolved to decode frames later, not to read the layout.
 */
export function resolveHdf5Layout(file: string, dataset?: string, candidates: readonly string[] = [DEFAULT_DATASET]): Hdf5Layout {
  return h5Guard(file, () => resolveLayout(file, dataset, candidates));
}

function resolveLayout(file: string, dataset: string | undefined, candidates: readonly string[]): Hdf5Layout {
  const master = openH5(file);
  try {
    // a damaged file makes HDF5 print its error stack and h5wasm throw 'name not defined': one FormatError
    return readQuietly(file, () => layoutOf(master, file, dataset, candidates), 'damaged HDF5 file');
  } finally {
    master.close();
  }
}

function layoutOf(master: H5File, file: string, dataset: string | undefined, candidates: readonly string[]): Hdf5Layout {
  {
    let paths: string[];
    if (dataset !== undefined) {
      paths = [dataset.startsWith('/') ? dataset : `/${dataset}`];
    } else {
      const g = master.get('/entry/data');
      const links = g instanceof Group ? g.keys().filter((k) => /^data_\d{6}$/.test(k)).sort() : [];
      const found = candidates.find((c) => (master.get(c) ?? null) !== null) ?? candidates[0] ?? DEFAULT_DATASET;
      paths = links.length > 0 ? links.map((k) => `/entry/data/${k}`) : [found];
    }
    const blocks: DataBlock[] = [];
    let first: BlockShape | undefined;
    let start = 0;
    for (const p of paths) {
      const { block, shape } = resolveEntry(master, file, p);
      if (first === undefined) first = shape;
      else if (shape.width !== first.width || shape.height !== first.height || shape.pixelType !== first.pixelType) {
        throw new FormatError(
          `frames are ${shape.width}×${shape.height} ${shape.pixelType} but the first dataset's are ${first.width}×${first.height} ${first.pixelType}`,
          { file: block.file, field: block.dataset },
        );
      }
      blocks.push({ ...block, frames: shape.frames, start });
      start += shape.frames;
    }
    invariant(first !== undefined, 'at least one dataset path');
    return { file, blocks, frames: start, width: first.width, height: first.height, pixelType: first.pixelType, filters: first.filters };
  }
}
