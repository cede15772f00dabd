/**
 * A column of numbers of unknown final length, appended one value at a time
 * into a typed array that doubles when full: 4 or 8 bytes a value (plus the
 * slack of the last doubling) where a `number[]` of doubles holds 8 and more.
 */
export class GrowableColumn<T extends Float64Array | Int32Array> {
  private data: T;
  length = 0;

  constructor(
    private readonly make: (n: number) => T,
    capacity = 1024,
  ) {
    this.data = make(Math.max(1, capacity));
  }

  push(v: number): void {
    if (this.length === this.data.length) {
      const grown = this.make(2 * this.data.length);
      grown.set(this.data);
      this.data = grown;
    }
    this.data[this.length++] = v;
  }

  /** The values so far: a view (no copy), valid until the next push. */
  view(): T {
    return this.data.subarray(0, this.length) as T;
  }

  /** Every `width`-th value from `offset` (a component of a vector column), as plain numbers. */
  component(offset: number, width: number): number[] {
    const out = new Array<number>(Math.floor((this.length - offset + width - 1) / width));
    for (let i = offset, o = 0; i < this.length; i += width) out[o++] = this.data[i]!;
    return out;
  }
}

export const float64Column = (capacity?: number): GrowableColumn<Float64Array> => new GrowableColumn((n) => new Float64Array(n), capacity);
export const int32Column = (capacity?: number): GrowableColumn<Int32Array> => new GrowableColumn((n) => new Int32Array(n), capacity);
