import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { LUNG_LABELS, PADDING_HU, type LabelVolume, type Volume } from '../volume.ts';
import { resampleToWorkingGrid } from '../geometry/index.ts';
import { segmentLungs } from '../segmentation/segment-lungs.ts';
import { computeZones } from '../zones/compute-zones.ts';
import { readScan } from '../io/read-scan.ts';
import { REAL_DATA_DIR } from '../testing/read-nrrd-for-tests.ts';
import { computeQct, type QctTable } from './compute-qct.ts';

const IDENTITY = Float64Array.of(1, 0, 0, 0, 1, 0, 0, 0, 1);
/** HU cycled through the right lung: 10 values, each on 50 of its 500 voxels. */
const RIGHT_HU = [-1000, -980, -950, -900, -850, -600, -400, -250, -249, 100];
const LEFT_HU = -700;

/** 10 x 10 x 10 working grid at 2 mm: right lung where i < 5, left lung elsewhere. */
function halfLabels(): LabelVolume {
  const data = new Uint8Array(1000);
  for (let n = 0; n < 1000; n++) data[n] = n % 10 < 5 ? LUNG_LABELS.right : LUNG_LABELS.left;
  return {
    size: [10, 10, 10],
    spacingMm: [2, 2, 2],
    originMm: [0, 0, 0],
    direction: IDENTITY,
    data,
  };
}

function row(table: QctTable, region: string) {
  const found = table.rows.find((r) => r.region === region);
  if (!found) throw new Error(`region ${region} missing from the QCT table`);
  return found;
}

describe('computeQct on known histograms', () => {
  const labels = halfLabels();
  const zones = computeZones(labels, 2, { rindDepthMm: 4 });
  const data = new Int16Array(1000);
  let rightIndex = 0;
  for (let n = 0; n < 1000; n++)
    data[n] = labels.data[n] === LUNG_LABELS.right ? RIGHT_HU[rightIndex++ % 10] : LEFT_HU;
  const table = computeQct({ ...labels, data }, labels, zones);

  it('measures the right lung exactly', () => {
    const right = row(table, 'right');
    expect(right.voxelCount).toBe(500);
    expect(right.volumeMl).toBeCloseTo(4, 10);
    expect(right.meanHu).toBeCloseTo(-607.9, 10);
    // -1000 and -980 are below -950; -950 itself is not.
    expect(right.laa950Percent).toBeCloseTo(20, 10);
    // -600, -400 and -250 lie in [-600, -250]; -249 does not.
    expect(right.haaPercent).toBeCloseTo(30, 10);
    // Rank ceil(0.15 * 500) = 75 falls among the 50 voxels at -980.
    expect(right.perc15Hu).toBe(-980);
  });

  it('measures the whole lung exactly', () => {
    const whole = row(table, 'whole');
    expect(whole.voxelCount).toBe(1000);
    expect(whole.meanHu).toBeCloseTo(-653.95, 10);
    expect(whole.laa950Percent).toBeCloseTo(10, 10);
    expect(whole.haaPercent).toBeCloseTo(15, 10);
    // Rank 150 is the last of the 50 voxels at -950.
    expect(whole.perc15Hu).toBe(-950);
  });

  it('adds zones up to their lung', () => {
    const left = row(table, 'left');
    const thirds = ['upper', 'middle', 'lower'].map(
      (third) => row(table, `left-${third}`).voxelCount,
    );
    const depths = ['rind', 'core'].map((depth) => row(table, `left-${depth}`).voxelCount);
    expect(thirds.reduce((a, b) => a + b)).toBe(left.voxelCount);
    expect(depths.reduce((a, b) => a + b)).toBe(left.voxelCount);
    expect(row(table, 'left-upper-core').meanHu).toBe(LEFT_HU);
  });

  it('skips padding voxels', () => {
    const padded = Int16Array.from(data);
    padded[0] = PADDING_HU;
    const result = computeQct({ ...labels, data: padded }, labels, zones);
    expect(row(result, 'right').voxelCount).toBe(499);
  });

  it('maps a finer native grid onto the labels', () => {
    // 1 mm voxels whose centres sit 0.5 mm either side of the 2 mm label centres.
    const native: Volume = {
      size: [20, 20, 20],
      spacingMm: [1, 1, 1],
      originMm: [-0.5, -0.5, -0.5],
      direction: IDENTITY,
      data: new Int16Array(8000),
    };
    for (let n = 0; n < 8000; n++) native.data[n] = n % 20 < 10 ? -900 : -300;
    const result = computeQct(native, labels, zones);
    expect(row(result, 'right').voxelCount).toBe(4000);
    expect(row(result, 'right').meanHu).toBe(-900);
    expect(row(result, 'left').meanHu).toBe(-300);
    expect(row(result, 'whole').volumeMl).toBeCloseTo(8, 10);
    expect(result.measuredOn.spacingMm).toEqual([1, 1, 1]);
  });
});

describe('computeQct on an oblique native grid', () => {
  it('counts the voxels whose nearest label is lung', () => {
    const labels = halfLabels();
    const zones = computeZones(labels, 2, { rindDepthMm: 4 });
    const angle = (20 * Math.PI) / 180;
    const [c, s] = [Math.cos(angle), Math.sin(angle)];
    const native: Volume = {
      size: [24, 24, 20],
      spacingMm: [0.9, 0.9, 1],
      originMm: [2, -3, -0.5],
      direction: Float64Array.of(c, -s, 0, s, c, 0, 0, 0, 1),
      data: new Int16Array(24 * 24 * 20).fill(-800),
    };
    let expected = 0;
    for (let k = 0; k < 20; k++) {
      for (let j = 0; j < 24; j++) {
        for (let i = 0; i < 24; i++) {
          const x = 2 + c * 0.9 * i - s * 0.9 * j;
          const y = -3 + s * 0.9 * i + c * 0.9 * j;
          const z = -0.5 + k;
          const index = [x, y, z].map((v) => Math.floor(v / 2 + 0.5));
          if (index.every((v) => v >= 0 && v < 10)) expected++;
        }
      }
    }
    const result = computeQct(native, labels, zones);

    expect(expected).toBeGreaterThan(0);
    expect(row(result, 'whole').voxelCount).toBe(expected);
    expect(row(result, 'whole').meanHu).toBe(-800);
  });
});

describe('computeQct on cip-ct64', () => {
  it('measures the whole-lung volume within 5 % of the reference', async () => {
    const scan = (await readScan(path.join(REAL_DATA_DIR, 'cip-ct64', 'ct-64.nrrd'))).volume;
    const segmentation = segmentLungs(resampleToWorkingGrid(scan, 2));
    const zones = computeZones(segmentation.labels, 2, { rindDepthMm: 10 });
    const table = computeQct(scan, segmentation.labels, zones);
    const whole = row(table, 'whole');
    console.log(
      'cip-ct64 QCT on the input grid',
      ['whole', 'right', 'left'].map((r) => row(table, r)),
    );
    // 4554 mL is the volume of the reference whole-lung mask.
    expect(Math.abs(whole.volumeMl - 4554) / 4554).toBeLessThanOrEqual(0.05);
  });
});
