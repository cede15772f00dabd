import { describe, expect, it } from 'vitest';
import { float64Column, int32Column } from '../../src/util/growable-column.ts';

describe('GrowableColumn', () => {
  it('keeps every value across doublings, in order', () => {
    const c = float64Column(2);
    const values = Array.from({ length: 37 }, (_v, i) => i * 0.5 - 3.25);
    for (const v of values) c.push(v);
    expect(c.length).toBe(37);
    expect(c.view()).toBeInstanceOf(Float64Array);
    expect(Array.from(c.view())).toEqual(values);
  });

  it('takes the components of a vector column', () => {
    const c = int32Column(1);
    for (let r = 0; r < 5; r++) for (const v of [r, -r, 10 * r]) c.push(v);
    expect(c.component(0, 3)).toEqual([0, 1, 2, 3, 4]);
    expect(c.component(1, 3)).toEqual([0, -1, -2, -3, -4]);
    expect(c.component(2, 3)).toEqual([0, 10, 20, 30, 40]);
    expect(c.component(0, 1)).toEqual(Array.from(c.view()));
  });

  it('is empty before the first push', () => {
    const c = float64Column();
    expect(c.length).toBe(0);
    expect(c.view().length).toBe(0);
    expect(c.component(1, 3)).toEqual([]);
  });
});
