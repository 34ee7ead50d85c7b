import { describe, expect, it } from 'vitest';
import { ExplainTypeError } from './errors.ts';
import { mapPatchValuesToVolume } from './patch-value-map.ts';
import { zoneSums } from './zone-sums.ts';

/** Lung mask on a 6 × 5 × 4 grid: an irregular blob that leaves every patch some lung. */
function blobMask(): Uint8Array {
  const mask = new Uint8Array(6 * 5 * 4);
  for (let z = 0; z < 4; z++) {
    for (let y = 0; y < 5; y++) {
      for (let x = 0; x < 6; x++) {
        if ((x + 2 * y + 3 * z) % 4 !== 0) mask[x + 6 * (y + 5 * z)] = y === 4 && x > 3 ? 0 : 1;
      }
    }
  }
  return mask;
}

describe('mapPatchValuesToVolume', () => {
  it('map mass equals value sum and stays in the lung', () => {
    const lungMask = blobMask();
    // Overlapping 3-voxel patches, one starting before the grid and one reaching past it.
    const cornerIjk = [0, 0, 0, 2, 1, 0, -1, 2, 1, 4, 3, 2, 1, 1, 1];
    const values = [-4.5, 2.25, -1, 0.75, -3];
    const result = mapPatchValuesToVolume({
      values,
      cornerIjk,
      patchSizeVoxels: 3,
      gridSize: [6, 5, 4],
      lungMask,
    });
    const valueSum = values.reduce((sum, value) => sum + value, 0);
    const mass = result.map.reduce((sum, value) => sum + value, 0);

    expect(result.unplacedPatches).toEqual([]);
    expect(result.placedSum).toBeCloseTo(valueSum, 12);
    expect(mass).toBeCloseTo(valueSum, 5);
    for (let index = 0; index < lungMask.length; index++) {
      if (lungMask[index] === 0) expect(result.map[index], `voxel ${index}`).toBe(0);
    }
  });

  it('small case matches hand-computed map', () => {
    const result = mapPatchValuesToVolume({
      values: [6, 3],
      cornerIjk: [0, 0, 0, 1, 0, 0],
      patchSizeVoxels: [2, 1, 1],
      gridSize: [4, 1, 1],
      lungMask: Uint8Array.from([1, 1, 0, 1]),
    });
    // Patch 0 gives 6 / 2 to voxels 0 and 1. Patch 1 has lung only at voxel 1, which gets 3.
    expect(Array.from(result.map)).toEqual([3, 6, 0, 0]);
  });

  it('patch without lung voxels is reported unplaced', () => {
    const result = mapPatchValuesToVolume({
      values: [2, 5],
      cornerIjk: [0, 0, 0, 2, 0, 0],
      patchSizeVoxels: [2, 1, 1],
      gridSize: [4, 1, 1],
      lungMask: Uint8Array.from([1, 0, 0, 0]),
    });
    expect(result.unplacedPatches).toEqual([1]);
    expect(result.placedSum).toBe(2);
    expect(Array.from(result.map)).toEqual([2, 0, 0, 0]);
  });

  it('without a mask spreads over in-grid voxels', () => {
    const result = mapPatchValuesToVolume({
      values: [4],
      cornerIjk: [-1, 0, 0],
      patchSizeVoxels: [2, 1, 1],
      gridSize: [3, 1, 1],
    });
    expect(Array.from(result.map)).toEqual([4, 0, 0]);
  });
});

describe('zoneSums', () => {
  it('sums values per zone code in first-seen order', () => {
    const sums = zoneSums([1, 2, 3, 4.5], Uint8Array.from([2, 1, 2, 3]));
    expect([...sums.keys()]).toEqual([2, 1, 3]);
    expect(sums.get(2)).toBe(4);
    expect(sums.get(1)).toBe(2);
    expect(sums.get(3)).toBe(4.5);
  });

  it('accepts zone names', () => {
    const sums = zoneSums(Float64Array.from([-1, -0.5, 2]), ['RU', 'LL', 'RU']);
    expect(sums.get('RU')).toBe(1);
    expect(sums.get('LL')).toBe(-0.5);
  });
});

describe('patch maps BAD CALL', () => {
  it('corner list of wrong length raises TypeError', () => {
    const call = () =>
      mapPatchValuesToVolume({
        values: [1, 2],
        cornerIjk: [0, 0, 0],
        patchSizeVoxels: 2,
        gridSize: [4, 4, 4],
      });
    expect(call).toThrow(ExplainTypeError);
    expect(call).toThrow(/cornerIjk must have 6 elements \(3 per patch value\), received 3/);
  });

  it('NaN value raises TypeError', () => {
    const call = () =>
      mapPatchValuesToVolume({
        values: [Number.NaN],
        cornerIjk: [0, 0, 0],
        patchSizeVoxels: 2,
        gridSize: [4, 4, 4],
      });
    expect(call).toThrow(ExplainTypeError);
    expect(call).toThrow(/values\[0\] must be a finite number, received NaN/);
  });

  it('mask of wrong length raises TypeError', () => {
    const call = () =>
      mapPatchValuesToVolume({
        values: [1],
        cornerIjk: [0, 0, 0],
        patchSizeVoxels: 2,
        gridSize: [4, 4, 4],
        lungMask: new Uint8Array(10),
      });
    expect(call).toThrow(ExplainTypeError);
    expect(call).toThrow(/lungMask must have 64 elements/);
  });

  it('zone list of wrong length raises TypeError', () => {
    const call = () => zoneSums([1, 2], ['RU']);
    expect(call).toThrow(ExplainTypeError);
    expect(call).toThrow(/zoneOfPatch must have 2 elements/);
  });
});
