/**
 * Typed arrays in ordinary or shared memory. Per-series arrays that worker
 * threads read (the per-pixel vectors, valid bits and channels of an
 * integration) are allocated in a SharedArrayBuffer from the start when the
 * CPU engine runs several threads, so they are never copied into shared
 * memory later (a copy would leave the original as garbage of the same size
 * until the next collection: the process's peak grows by it).
 */

/** A typed-array class: constructible from a length or from a buffer. */
export interface TypedArrayClass<T> {
  new (length: number): T;
  new (buffer: SharedArrayBuffer): T;
  readonly BYTES_PER_ELEMENT: number;
}

/** A zeroed typed array of `length` elements, in a SharedArrayBuffer when `shared`. */
export function allocTyped<T>(ctor: TypedArrayClass<T>, length: number, shared = false): T {
  return shared ? new ctor(new SharedArrayBuffer(length * ctor.BYTES_PER_ELEMENT)) : new ctor(length);
}
