/**
 * Stored frames (any numeric type) to the Int32 counts every counting stage
 * reads, and the stored type of a typed array.
 */
import { FormatError, type ErrorLocation } from '../../errors.ts';
import type { FrameType, StoredArray } from './frame-source.ts';

/**
 * The Int32 pixels of a native frame: uint32 values ≥ 2³¹ become −1 (the
 * array is reinterpreted in place, so `native` must not be used afterwards);
 * other integer types are widened unchanged. Float frames must hold integer
 * counts (markers −1, −2 included): a non-integer or non-finite value is a
 * FormatError naming `where` and the pixel, never a silent rounding.
 */
export function pixelsFromNative(native: StoredArray, where: ErrorLocation = {}): Int32Array {
  if (native instanceof Int32Array) return native;
  if (native instanceof Uint32Array) {
    const out = new Int32Array(native.buffer, native.byteOffset, native.length);
    for (let i = 0; i < out.length; i++) if ((out[i] as number) < 0) out[i] = -1;
    return out;
  }
  if (native instanceof Float32Array || native instanceof Float64Array) {
    const out = new Int32Array(native.length);
    for (let i = 0; i < native.length; i++) {
      const v = native[i] as number;
      if (!Number.isInteger(v) || v < -2147483648 || v > 2147483647) {
        throw new FormatError(`pixel ${i} is ${v}: a float frame must hold integer counts to be counted (read it with readStored)`, { ...where, field: 'pixels' });
      }
      out[i] = v;
    }
    return out;
  }
  return Int32Array.from(native);
}

/** The `FrameType` of a stored array. */
export function storedType(a: StoredArray): FrameType {
  if (a instanceof Float32Array) return 'float32';
  if (a instanceof Float64Array) return 'float64';
  if (a instanceof Uint16Array) return 'uint16';
  if (a instanceof Uint32Array) return 'uint32';
  if (a instanceof Int32Array) return 'int32';
  if (a instanceof Int16Array) return 'int16';
  if (a instanceof Int8Array) return 'int8';
  return 'uint8';
}
