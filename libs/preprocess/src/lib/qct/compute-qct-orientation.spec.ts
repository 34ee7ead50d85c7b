import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { LabelVolume, Volume } from '../volume.ts';
import { resampleLabelsToReference, resampleToWorkingGrid } from '../geometry/index.ts';
import { segmentLungs } from '../segmentation/segment-lungs.ts';
import { computeZones, type Zones } from '../zones/compute-zones.ts';
import { readScan } from '../io/read-scan.ts';
import { REAL_DATA_DIR } from '../testing/read-nrrd-for-tests.ts';
import { reorderAxes, type AxisReordering } from '../testing/reorder-axes.ts';
import { computeQct, type QctTable } from './compute-qct.ts';

const REORDERINGS: { name: string; reordering: AxisReordering }[] = [
  { name: 'permuted (k, i, j)', reordering: { axes: [2, 0, 1], flips: [false, false, false] } },
  { name: 'i and k flipped', reordering: { axes: [0, 1, 2], flips: [true, false, true] } },
  // The simulator's delta-permuted-3.0 layout: stored axes (S reversed, L, P reversed).
  {
    name: 'permuted (k, i, j), k and j flipped',
    reordering: { axes: [2, 0, 1], flips: [true, false, true] },
  },
  {
    name: 'i and j swapped, j flipped',
    reordering: { axes: [1, 0, 2], flips: [false, true, false] },
  },
];

/**
 * Largest share of lung voxels allowed to change label with the axis order. Every copy voxel sits
 * at the same LPS point as an original voxel, so only voxels that lie exactly halfway between two
 * label voxels can round the other way.
 */
const VOXEL_ROUNDING_TOLERANCE = 0.001;

function row(table: QctTable, region: string) {
  const found = table.rows.find((r) => r.region === region);
  if (!found) throw new Error(`region ${region} missing from the QCT table`);
  return found;
}

describe('computeQct on cip-ct64 stored in another axis order', () => {
  let scan: Volume;
  let labels: LabelVolume;
  let zones: Zones;
  let original: QctTable;
  let originalMask: LabelVolume;

  beforeAll(async () => {
    scan = (await readScan(path.join(REAL_DATA_DIR, 'cip-ct64', 'ct-64.nrrd'))).volume;
    labels = segmentLungs(resampleToWorkingGrid(scan, 2)).labels;
    zones = computeZones(labels, 2, { rindDepthMm: 10 });
    original = computeQct(scan, labels, zones);
    originalMask = resampleLabelsToReference(labels, scan);
  });

  it.each(REORDERINGS)('matches the original QCT table when $name', ({ reordering }) => {
    const copy = reorderAxes(scan, reordering);
    const table = computeQct(copy, labels, zones);
    const whole = row(original, 'whole');
    console.log(
      `cip-ct64 whole lung: original ${whole.volumeMl.toFixed(1)} mL, ` +
        `copy ${row(table, 'whole').volumeMl.toFixed(1)} mL`,
    );
    expect(whole.voxelCount).toBeGreaterThan(0);
    for (const expected of original.rows) {
      const actual = row(table, expected.region);
      const allowed = Math.ceil(VOXEL_ROUNDING_TOLERANCE * whole.voxelCount);
      const change = Math.abs(actual.voxelCount - expected.voxelCount);
      expect(change, expected.region).toBeLessThanOrEqual(allowed);
      if (expected.voxelCount === 0) continue;
      expect(actual.volumeMl, expected.region).toBeCloseTo(expected.volumeMl, 0);
      expect(actual.laa950Percent, expected.region).toBeCloseTo(expected.laa950Percent, 1);
      expect(actual.meanHu, expected.region).toBeCloseTo(expected.meanHu, 0);
    }
  });

  it.each(REORDERINGS)('maps the lung mask the same way when $name', ({ reordering }) => {
    const copy = reorderAxes(scan, reordering);
    const mask = resampleLabelsToReference(labels, copy);
    const expected = reorderAxes(originalMask, reordering);
    let lung = 0;
    let differing = 0;
    for (let n = 0; n < mask.data.length; n++) {
      if (expected.data[n] !== 0) lung++;
      if (mask.data[n] !== expected.data[n]) differing++;
    }
    expect(lung).toBeGreaterThan(0);
    expect(differing).toBeLessThanOrEqual(VOXEL_ROUNDING_TOLERANCE * lung);
  });
});
