/**
 * The accumulated corrected image of a photon session, and the image
 * correction it is made of.
 *
 * Correction of a raw value v (as the session documents it): invalid (−1)
 * when v < 0 (Pilatus gap/bad markers) or not finite; `none`: v; `cmos`:
 * c = max(v − dark, 0), 0 when c < zeroBelow. The corrected frame is f32, so
 * every corrected value is rounded to f32 before it is summed.
 *
 * Memory: one sum per pixel — u32 while every corrected value added is an
 * integer of 0…65,535 (uint8/uint16 frames, no correction or a dark level
 * that is an integer ≥ 0) and fewer than 65,537 frames are in it (so no sum can pass 2³²;
 * every partial sum is the f64 sum exactly), f64 from the first frame that
 * breaks that —, and a per-pixel count of valid frames only once a frame
 * with an invalid pixel arrives: frames of unsigned integer type (every pixel
 * valid) are counted by one number. No corrected copy of the frame is made.
 */
import { InvalidValueError } from '../errors.ts';
import type { FrameArray } from '../io/stream1.ts';

export type Correction = { kind: 'none' } | { kind: 'cmos'; dark?: number | Float32Array; zeroBelow?: number };

const f = Math.fround;

/** True when every value of the frame is valid (≥ 0 and finite), without looking at unsigned integer frames. */
function allValid(data: FrameArray): boolean {
  if (data instanceof Uint16Array || data instanceof Uint8Array || data instanceof Uint32Array) return true;
  for (let i = 0; i < data.length; i++) {
    const v = data[i] as number;
    if (!(v >= 0) || v === Number.POSITIVE_INFINITY) return false;
  }
  return true;
}

/** A dark level that keeps integer values integers of 0…65,535. */
function isWholeLevel(dark: number | Float32Array): boolean {
  return typeof dark === 'number' && Number.isInteger(dark) && dark >= 0;
}

/** The dark frame or level of a CMOS correction, checked against the frame size. */
function darkOf(corr: Extract<Correction, { kind: 'cmos' }>, n: number, where: { file: string; frame: number }): number | Float32Array {
  const dark = corr.dark ?? 100;
  if (typeof dark !== 'number' && dark.length !== n) {
    throw new InvalidValueError(`dark frame has ${dark.length} pixels, frame ${where.frame} has ${n}`, { file: where.file, frame: where.frame, field: 'dark' });
  }
  return dark;
}

/**
 * Writes the corrected frame (f32; invalid pixels −1) into `out` (of the
 * frame's length). `where` names the frame in errors.
 */
export function correctFrame(data: FrameArray, corr: Correction, out: Float32Array, where: { file: string; frame: number }): Float32Array {
  const n = data.length;
  if (corr.kind === 'none') {
    for (let i = 0; i < n; i++) {
      const v = data[i] as number;
      out[i] = v >= 0 && Number.isFinite(v) ? v : -1;
    }
    return out;
  }
  const dark = darkOf(corr, n, where);
  const zero = corr.zeroBelow ?? 12;
  for (let i = 0; i < n; i++) {
    const v = data[i] as number;
    if (!Number.isFinite(v) || v < 0) {
      out[i] = -1;
      continue;
    }
    const d = typeof dark === 'number' ? dark : (dark[i] as number);
    const c = Math.max(v - d, 0);
    out[i] = c < zero ? 0 : c;
  }
  return out;
}

/** The corrected value (f32) of pixel `i`, −1 when invalid; `dark` from `darkOf`. */
export function correctedAt(data: FrameArray, i: number, corr: Correction, dark: number | Float32Array): number {
  const v = data[i] as number;
  if (!Number.isFinite(v) || v < 0) return -1;
  if (corr.kind === 'none') return f(v);
  const c = Math.max(v - (typeof dark === 'number' ? dark : (dark[i] as number)), 0);
  return c < (corr.zeroBelow ?? 12) ? 0 : f(c);
}

/** The dark level of `corr` for `correctedAt` (0 for `none`). */
export function correctionDark(corr: Correction, n: number, where: { file: string; frame: number }): number | Float32Array {
  return corr.kind === 'none' ? 0 : darkOf(corr, n, where);
}

/**
 * counts[i] += 1 in per-pixel counts kept as u16 while they fit (half the
 * memory of u32 for a detector-sized image): a u16 count about to pass
 * 65,535 turns the whole array into u32 first. Returns the array to keep.
 */
export function addCount(counts: Uint16Array | Uint32Array, i: number): Uint16Array | Uint32Array {
  const out = counts instanceof Uint16Array && counts[i] === 65535 ? Uint32Array.from(counts) : counts;
  out[i] = (out[i] as number) + 1;
  return out;
}

/** acc[i] += data[i] for values that f32 holds exactly. */
function addExact(acc: Uint32Array | Float64Array, data: Uint16Array | Uint8Array | Float32Array): void {
  for (let i = 0; i < data.length; i++) acc[i] = (acc[i] as number) + (data[i] as number);
}

/** Per-pixel sums of corrected values over the frames where the pixel was valid. */
export class ImageAccumulation {
  private sums: Uint32Array | Float64Array;
  frames = 0;
  /** valid frames per pixel among the frames that had an invalid pixel (null: none had) */
  private partialValid: Uint32Array | null = null;
  /** frames in which every pixel was valid */
  private wholeFrames = 0;

  constructor(readonly length: number) {
    this.sums = new Uint32Array(length);
  }

  /** The sum of pixel `i`. */
  valueAt(i: number): number {
    return this.sums[i] as number;
  }

  /** The sums as f64 (the array itself once f64, else a copy). */
  toFloat64(): Float64Array {
    return this.sums instanceof Float64Array ? this.sums : Float64Array.from(this.sums);
  }

  /** Adds one raw frame, corrected. */
  add(data: FrameArray, corr: Correction, where: { file: string; frame: number }): void {
    const n = this.length;
    const integral =
      (data instanceof Uint16Array || data instanceof Uint8Array) && (corr.kind === 'none' || isWholeLevel(corr.dark ?? 100)) && this.frames < 65536;
    if (!integral && this.sums instanceof Uint32Array) this.sums = Float64Array.from(this.sums);
    const acc = this.sums;
    const whole = allValid(data);
    const valid = whole ? null : (this.partialValid ??= new Uint32Array(n));
    if (corr.kind === 'none' && valid === null && (data instanceof Uint16Array || data instanceof Uint8Array || data instanceof Float32Array)) {
      // the common case (uint16 CMOS frames): every value valid and already an f32
      addExact(acc, data);
    } else if (corr.kind === 'none') {
      for (let i = 0; i < n; i++) {
        const v = data[i] as number;
        if (valid === null) acc[i] = (acc[i] as number) + f(v);
        else if (v >= 0 && Number.isFinite(v)) {
          acc[i] = (acc[i] as number) + f(v);
          valid[i] = (valid[i] as number) + 1;
        }
      }
    } else {
      const dark = darkOf(corr, n, where);
      const zero = corr.zeroBelow ?? 12;
      for (let i = 0; i < n; i++) {
        const v = data[i] as number;
        if (valid !== null) {
          if (!Number.isFinite(v) || v < 0) continue;
          valid[i] = (valid[i] as number) + 1;
        }
        const c = Math.max(v - (typeof dark === 'number' ? dark : (dark[i] as number)), 0);
        if (c >= zero) acc[i] = (acc[i] as number) + f(c);
      }
    }
    if (whole) this.wholeFrames++;
    this.frames++;
  }

  /** Valid frames of pixel `i`. */
  validAt(i: number): number {
    return this.wholeFrames + (this.partialValid === null ? 0 : (this.partialValid[i] as number));
  }

  /** Valid frames of pixels [start, start + out.length), into `out`. */
  validInto(start: number, out: Uint32Array): Uint32Array {
    const p = this.partialValid;
    if (p === null) return out.fill(this.wholeFrames);
    for (let k = 0; k < out.length; k++) out[k] = this.wholeFrames + (p[start + k] as number);
    return out;
  }

  /** Valid frames per pixel, as a new array. */
  validCounts(): Uint32Array {
    return this.validInto(0, new Uint32Array(this.length));
  }
}
