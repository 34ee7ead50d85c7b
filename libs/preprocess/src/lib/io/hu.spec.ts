import { describe, expect, it } from 'vitest';

import { PADDING_HU } from '../volume.ts';
import { convertToHu, toHuInt16 } from './hu.ts';

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

describe('convertToHu', () => {
  const int16 = Int16Array.from([-3024, 40, -1000, -1501, -1500, 32767, -2000, -1000]);

  it('matches toHuInt16 on int16', () => {
    const { hu } = convertToHu(int16);
    expect(Array.from(hu)).toEqual(Array.from(toHuInt16(int16)));
  });

  it('leaves int16 input alone by default', () => {
    const values = int16.slice();
    convertToHu(values);
    expect(Array.from(values)).toEqual(Array.from(int16));
  });

  it('converts int16 in place on request', () => {
    const values = int16.slice();
    const { hu } = convertToHu(values, { reuseInt16: true });
    expect(hu).toBe(values);
    expect(Array.from(hu)).toEqual(Array.from(toHuInt16(int16)));
  });

  it('measures the raw range including padding', () => {
    expect(convertToHu(int16).rawRange).toEqual({ min: -3024, max: 32767 });
    expect(convertToHu(Int16Array.from([-2000, -3000])).rawRange).toEqual({
      min: -3000,
      max: -2000,
    });
    expect(convertToHu(Int16Array.from([5, -7])).rawRange).toEqual({ min: -7, max: 5 });
  });

  it('counts non-padding values only', () => {
    const { valueCounts } = convertToHu(int16);
    const counted = new Map<number, number>();
    valueCounts.forEach((count, index) => {
      if (count > 0) counted.set(index - 32768, count);
    });
    expect(counted).toEqual(
      new Map([
        [-1500, 1],
        [-1000, 2],
        [40, 1],
        [32767, 1],
      ]),
    );
  });

  it('counts the last voxel of an odd length', () => {
    const { valueCounts, rawRange } = convertToHu(Int16Array.from([7, -2000, 9]));
    expect(valueCounts[7 + 32768]).toBe(1);
    expect(valueCounts[9 + 32768]).toBe(1);
    expect(rawRange).toEqual({ min: -2000, max: 9 });
  });

  it('matches toHuInt16 with slope and intercept', () => {
    const values = Uint16Array.from([0, 1000, 1001, 65535]);
    const { hu, rawRange, valueCounts } = convertToHu(values, { slope: 0.5, intercept: -1024.25 });
    expect(Array.from(hu)).toEqual(Array.from(toHuInt16(values, 0.5, -1024.25)));
    expect(rawRange).toEqual({ min: 0, max: 65535 });
    expect(valueCounts[-524 + 32768]).toBe(2);
  });

  it('ignores NaN in the raw range', () => {
    const { hu, rawRange } = convertToHu(Float32Array.from([NaN, -0.5, 0.25]));
    expect(hu[0]).toBe(PADDING_HU);
    expect(rawRange).toEqual({ min: -0.5, max: 0.25 });
  });
});
