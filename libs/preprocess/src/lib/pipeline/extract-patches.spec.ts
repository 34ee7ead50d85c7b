import { describe, expect, it } from 'vitest';

import { PADDING_HU, type LabelVolume, type Volume } from '../volume.ts';
import { extractPatches, type PatchZoneMaps } from './extract-patches.ts';

const SIZE: [number, number, number] = [40, 36, 50];
const SPACING_MM: [number, number, number] = [2, 2, 2];
const ORIGIN_MM: [number, number, number] = [-40, -30, 100];
const VOXEL_ML = 0.008;

interface Phantom {
  working: Volume;
  labels: LabelVolume;
  zones: PatchZoneMaps;
}

/**
 * Two box lungs on a 40 x 36 x 50 grid at 2 mm: right at i 4..15, left at i 20..35, both at
 * j 6..29 and k 5..44. HU encodes the voxel index. Zone code 1 below k 25, 2 above. Rind is the
 * lung voxels with i at 4 or 35.
 */
function makePhantom(direction = Float64Array.of(1, 0, 0, 0, 1, 0, 0, 0, 1)): Phantom {
  const voxels = SIZE[0] * SIZE[1] * SIZE[2];
  const hu = new Int16Array(voxels);
  const labels = new Uint8Array(voxels);
  const zoneCodes = new Uint8Array(voxels);
  const rind = new Uint8Array(voxels);
  let index = 0;
  for (let k = 0; k < SIZE[2]; k++) {
    for (let j = 0; j < SIZE[1]; j++) {
      for (let i = 0; i < SIZE[0]; i++, index++) {
        hu[index] = i + 40 * j - 2000 + k;
        const inSlab = j >= 6 && j <= 29 && k >= 5 && k <= 44;
        if (!inSlab) continue;
        if (i >= 4 && i <= 15) labels[index] = 1;
        if (i >= 20 && i <= 35) labels[index] = 2;
        if (labels[index] === 0) continue;
        zoneCodes[index] = k < 25 ? 1 : 2;
        rind[index] = i === 4 || i === 35 ? 1 : 0;
      }
    }
  }
  const geometry = { size: SIZE, spacingMm: SPACING_MM, originMm: ORIGIN_MM, direction };
  return {
    working: { ...geometry, data: hu },
    labels: { ...geometry, data: labels },
    zones: { zoneCodes, rind },
  };
}

const PARAMS = { patchSizeVoxels: 8, patchStrideVoxels: 8, minLungFraction: 0.6 };
const TOTAL_LUNG_VOXELS = (12 + 16) * 24 * 40;

function huAt(i: number, j: number, k: number): number {
  return i + 40 * j - 2000 + k;
}

describe('extractPatches', () => {
  it('keeps patches above the lung fraction', () => {
    const { working, labels, zones } = makePhantom();

    const patches = extractPatches(working, labels, zones, PARAMS);

    // 4 x 3 x 5 candidates. The column at i 12..19 is half lung and is dropped.
    expect(patches.count).toBe(3 * 3 * 5);
    expect(patches.hu.length).toBe(45 * 512);
    expect(patches.mask.length).toBe(45 * 512);
  });

  it('reports the dropped share of the lung', () => {
    const { working, labels, zones } = makePhantom();

    const patches = extractPatches(working, labels, zones, PARAMS);

    const droppedVoxels = 4 * 24 * 40;
    expect(patches.droppedLungFraction).toBeCloseTo(droppedVoxels / TOTAL_LUNG_VOXELS, 10);
    expect(patches.lungVolumeMl).toBeCloseTo(TOTAL_LUNG_VOXELS * VOXEL_ML, 6);
  });

  it('sums lung mL to the lung volume minus the dropped share', () => {
    const { working, labels, zones } = makePhantom();

    const patches = extractPatches(working, labels, zones, PARAMS);

    const keptMl = patches.lungMl.reduce((sum, value) => sum + value, 0);
    const expectedMl = patches.lungVolumeMl * (1 - patches.droppedLungFraction);
    expect(keptMl).toBeCloseTo(expectedMl, 3);
    expect(keptMl).toBeCloseTo((TOTAL_LUNG_VOXELS - 4 * 24 * 40) * VOXEL_ML, 3);
  });

  it('places centres in LPS millimetres', () => {
    const { working, labels, zones } = makePhantom();

    const patches = extractPatches(working, labels, zones, PARAMS);

    // The first patch starts at voxel (4, 6, 5), so its centre is at index (7.5, 9.5, 8.5).
    expect(Array.from(patches.cornerIjk.subarray(0, 3))).toEqual([4, 6, 5]);
    expect(Array.from(patches.centersMm.subarray(0, 3))).toEqual([-25, -11, 117]);
  });

  it('applies the direction to centres', () => {
    const { working, labels, zones } = makePhantom(Float64Array.of(-1, 0, 0, 0, 1, 0, 0, 0, 1));

    const patches = extractPatches(working, labels, zones, PARAMS);

    expect(Array.from(patches.centersMm.subarray(0, 3))).toEqual([-55, -11, 117]);
  });

  it('copies HU and labels in (k, j, i) order', () => {
    const { working, labels, zones } = makePhantom();

    const patches = extractPatches(working, labels, zones, PARAMS);

    // Patch 1 is the second along i, skipping the dropped column: corner (20, 6, 5).
    expect(Array.from(patches.cornerIjk.subarray(3, 6))).toEqual([20, 6, 5]);
    const offset = 512 + 3 + 8 * (2 + 8 * 1);
    expect(patches.hu[offset]).toBe(huAt(23, 8, 6));
    expect(patches.mask[offset]).toBe(2);
    expect(patches.mask[0]).toBe(1);
  });

  it('sets zone, side and rind fraction per patch', () => {
    const { working, labels, zones } = makePhantom();

    const patches = extractPatches(working, labels, zones, PARAMS);

    // Patch 0: right lung, k 5..12, one of eight i columns in the rind.
    expect(patches.side[0]).toBe(1);
    expect(patches.zone[0]).toBe(1);
    expect(patches.rindFraction[0]).toBeCloseTo(1 / 8, 6);
    // Patch 2: left lung at i 28..35, rind at i 35.
    expect(patches.side[2]).toBe(2);
    expect(patches.rindFraction[2]).toBeCloseTo(1 / 8, 6);
    // The last patch row starts at k 37, in zone 2.
    expect(patches.zone[patches.count - 1]).toBe(2);
    expect(patches.lungMl[0]).toBeCloseTo(512 * VOXEL_ML, 5);
  });

  it('counts overlapping patches once in the dropped share', () => {
    const { working, labels, zones } = makePhantom();

    const patches = extractPatches(working, labels, zones, { ...PARAMS, patchStrideVoxels: 4 });

    const keptMl = patches.lungMl.reduce((sum, value) => sum + value, 0);
    expect(patches.droppedLungFraction).toBeGreaterThanOrEqual(0);
    expect(patches.droppedLungFraction).toBeLessThan((4 * 24 * 40) / TOTAL_LUNG_VOXELS);
    expect(keptMl).toBeGreaterThan(patches.lungVolumeMl);
  });

  it('pads patches that reach past the grid', () => {
    const size: [number, number, number] = [6, 6, 6];
    const geometry = {
      size,
      spacingMm: SPACING_MM,
      originMm: ORIGIN_MM,
      direction: Float64Array.of(1, 0, 0, 0, 1, 0, 0, 0, 1),
    };
    const working = { ...geometry, data: new Int16Array(216).fill(-800) };
    const labels = { ...geometry, data: new Uint8Array(216).fill(1) };
    const zones = { zoneCodes: new Uint8Array(216).fill(3), rind: new Uint8Array(216) };

    const patches = extractPatches(working, labels, zones, { ...PARAMS, minLungFraction: 0.1 });

    expect(patches.count).toBe(1);
    expect(Array.from(patches.cornerIjk)).toEqual([-1, -1, -1]);
    expect(patches.hu[0]).toBe(PADDING_HU);
    expect(patches.mask[0]).toBe(0);
    expect(patches.hu[1 + 8 + 64]).toBe(-800);
    expect(patches.mask[1 + 8 + 64]).toBe(1);
    expect(patches.lungMl[0]).toBeCloseTo(216 * VOXEL_ML, 5);
    expect(patches.droppedLungFraction).toBe(0);
  });

  it('returns no patches without lungs', () => {
    const { working, labels, zones } = makePhantom();
    labels.data.fill(0);

    const patches = extractPatches(working, labels, zones, PARAMS);

    expect(patches.count).toBe(0);
    expect(patches.droppedLungFraction).toBe(0);
    expect(patches.lungVolumeMl).toBe(0);
  });

  it('BAD CALL - rejects labels on another grid', () => {
    const { working, zones } = makePhantom();
    const labels = {
      ...working,
      size: [4, 4, 4] as [number, number, number],
      data: new Uint8Array(64),
    };

    expect(() => extractPatches(working, labels, zones, PARAMS)).toThrow(/share one grid/);
  });

  it('BAD CALL - rejects a zero stride', () => {
    const { working, labels, zones } = makePhantom();

    expect(() =>
      extractPatches(working, labels, zones, { ...PARAMS, patchStrideVoxels: 0 }),
    ).toThrow(/patchStrideVoxels/);
  });
});
