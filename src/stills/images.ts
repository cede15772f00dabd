/**
 * The image of each still shot, read through the frame-source layer
 * (src/io/sources/): a shot's image is (path, index) — a CBF/SMV file holds one
 * image (index 0), a multi-event HDF5 file (`/entry/data/data` stacks, CrystFEL
 * `Event: //N`) holds many and the shot reads image N.
 *
 * Sources are opened once per file and kept until `close()`, so shots sharing a
 * multi-event file (or two lattices sharing an image) do not reopen it.
 *
 * Errors are one line naming the shot: a shot without an image, a missing file,
 * an index past the file's last image.
 */
import { existsSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { FileAccessError, InvalidValueError } from '../errors.ts';
import type { DetectorImage } from '../io/image.ts';
import type { FrameSource } from '../io/sources/frame-source.ts';
import { openFrameSource } from '../io/sources/open.ts';
import type { StillShot } from './model.ts';

export interface ShotImagesOptions {
  /** folder that relative image paths are resolved against (CrystFEL streams name images as indexamajig saw them); default: the working directory */
  root?: string;
  /** HDF5 dataset holding the stack when the file has several (default: the frame-source default, /entry/data/data) */
  dataset?: string;
}

/** `shot 3 ('snase-still-04')`: how messages name a shot. */
export function shotLabel(shot: StillShot): string {
  return `shot ${shot.index} ('${shot.identifier}')`;
}

/** Opens and reads the images of still shots (see the module comment). */
export class ShotImages {
  private readonly sources = new Map<string, Promise<FrameSource>>();
  private readonly options: ShotImagesOptions;

  constructor(options: ShotImagesOptions = {}) {
    this.options = options;
  }

  /** The file a shot's image lives in, resolved against `root`. */
  pathOf(shot: StillShot): string {
    if (shot.image === undefined) throw new InvalidValueError(`${shotLabel(shot)} names no image`, { field: `shot ${shot.index}` });
    const p = shot.image.path;
    return isAbsolute(p) || this.options.root === undefined ? p : resolve(this.options.root, p);
  }

  private source(path: string, shot: StillShot): Promise<FrameSource> {
    let s = this.sources.get(path);
    if (s === undefined) {
      const options = this.options.dataset !== undefined ? { dataset: this.options.dataset, field: `shot ${shot.index}` } : { field: `shot ${shot.index}` };
      s = openFrameSource(path, options);
      this.sources.set(path, s);
      // a failed open is not cached: the next shot naming the file says it again
      s.catch(() => this.sources.delete(path));
    }
    return s;
  }

  /** The shot's image (Int32 pixels, markers kept). */
  async read(shot: StillShot): Promise<DetectorImage> {
    const path = this.pathOf(shot);
    const index = (shot.image as { index: number }).index;
    if (!existsSync(path)) throw new FileAccessError(`no such file: the image of ${shotLabel(shot)}`, { file: path, field: `shot ${shot.index}` });
    const source = await this.source(path, shot);
    if (!(index >= 0 && index < source.length)) {
      const event = shot.image?.event ? ` (event ${shot.image.event})` : '';
      throw new InvalidValueError(`${shotLabel(shot)} names image ${index}${event} but the file holds ${source.length}`, { file: path, frame: index, field: `shot ${shot.index}` });
    }
    // decode errors name the file and the image
    return source.read(index);
  }

  /** Releases every opened file; safe to call twice. */
  async close(): Promise<void> {
    const all = [...this.sources.values()];
    this.sources.clear();
    for (const s of all) {
      try {
        await (await s).close();
      } catch {
        // a source that failed to open has nothing to release
      }
    }
  }
}
