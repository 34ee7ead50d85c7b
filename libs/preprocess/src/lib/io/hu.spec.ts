import { describe, expect, it } from 'vitest';

import { PADDING_HU } from '../volume.ts';
import { toHuInt16 } from './hu.ts';

describe('toHuInt16', () => {
  it('saturates instead of wrapping', () => {
    const hu = toHuInt16(Int32Array.from([40000, -32768, 0]), 1, -1024);
    expect(hu[0]).toBe(32767);
    expect(hu[1]).toBe(PADDING_HU);
    expect(hu[2]).toBe(-1024);
  });

  it('keeps stored -32768 with intercept negative', () => {
    const hu = toHuInt16(Int16Array.from([-32768]), 1, -1024);
    expect(hu[0]).toBe(PADDING_HU);
    expect(hu[0]).toBeLessThan(0);
  });

  it('applies slope in float64 and rounds', () => {
    const hu = toHuInt16(Uint16Array.from([1000, 1001]), 0.5, -1024.25);
    expect(Array.from(hu)).toEqual([-524, -524]);
  });

  it('maps padding values and NaN to PADDING_HU', () => {
    const hu = toHuInt16(Float32Array.from([-2000, -3024, -1501, -1500, NaN]));
    expect(Array.from(hu)).toEqual([PADDING_HU, PADDING_HU, PADDING_HU, -1500, PADDING_HU]);
  });
});
