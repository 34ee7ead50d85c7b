import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { isInputError } from '../errors.ts';
import { LUNG_LABELS, type Volume } from '../volume.ts';
import { resampleLabelsToReference, resampleToWorkingGrid } from '../geometry/index.ts';
import { readScan } from '../io/read-scan.ts';
import { readLabelMapForTests, REAL_DATA_DIR } from '../testing/read-nrrd-for-tests.ts';
import { segmentLungs, type LungSegmentation } from './segment-lungs.ts';
import { makeSyntheticChest } from './synthetic-chest.ts';

const CIP = path.join(REAL_DATA_DIR, 'cip-ct64');
/** Chest Imaging Platform label value of the trachea and main bronchi (type 2, region 0). */
const CIP_TRACHEA = 512;

describe('segmentLungs on cip-ct64', () => {
  let scan: Volume;
  let segmentation: LungSegmentation;
  let native: Uint8Array;
  let reference: Uint16Array;
  let labelMap: Uint16Array;

  beforeAll(async () => {
    scan = (await readScan(path.join(CIP, 'ct-64.nrrd'))).volume;
    reference = (await readLabelMapForTests(path.join(CIP, 'wholeLung-64.nrrd'))).data;
    labelMap = (await readLabelMapForTests(path.join(CIP, 'lm-64.nrrd'))).data;
    const grid = resampleToWorkingGrid(scan, 2);
    segmentation = segmentLungs(grid);
    native = resampleLabelsToReference(segmentation.labels, grid.source).data;
  });

  it('matches the reference whole-lung mask on the input grid', () => {
    let both = 0;
    let found = 0;
    let expected = 0;
    for (let n = 0; n < native.length; n++) {
      const isLung = native[n] !== 0;
      const isReference = reference[n] !== 0;
      if (isLung) found++;
      if (isReference) expected++;
      if (isLung && isReference) both++;
    }
    const dice = (2 * both) / (found + expected);
    console.log(
      `cip-ct64 Dice on the input grid: ${dice.toFixed(4)} (${found} vs ${expected} voxels)`,
    );
    expect(dice).toBeGreaterThanOrEqual(0.95);
  });

  it('puts right and left on the reference sides', () => {
    // Regions 12 to 14 are the right lung's thirds, 9 to 11 the left lung's.
    const counts = { rightOnRight: 0, rightTotal: 0, leftOnLeft: 0, leftTotal: 0 };
    for (let n = 0; n < native.length; n++) {
      const region = labelMap[n] & 0xff;
      if (native[n] === LUNG_LABELS.right) {
        counts.rightTotal++;
        if (region >= 12 && region <= 14) counts.rightOnRight++;
      } else if (native[n] === LUNG_LABELS.left) {
        counts.leftTotal++;
        if (region >= 9 && region <= 11) counts.leftOnLeft++;
      }
    }
    console.log('cip-ct64 side agreement', counts);
    expect(counts.rightOnRight / counts.rightTotal).toBeGreaterThan(0.9);
    expect(counts.leftOnLeft / counts.leftTotal).toBeGreaterThan(0.9);
  });

  it('excludes the trachea and main bronchi', () => {
    let trachea = 0;
    let labelledLung = 0;
    for (let n = 0; n < native.length; n++) {
      if (labelMap[n] !== CIP_TRACHEA) continue;
      trachea++;
      if (native[n] !== 0) labelledLung++;
    }
    const excluded = 1 - labelledLung / trachea;
    console.log(
      `cip-ct64 trachea voxels not labelled lung: ${(100 * excluded).toFixed(1)} % of ${trachea}`,
    );
    expect(excluded).toBeGreaterThanOrEqual(0.9);
  });

  it('reports complete coverage', () => {
    expect(segmentation.coverage.complete).toBe(true);
    expect(segmentation.coverage.reasons).toEqual([]);
  });

  it('flags a scan with the top cut off', () => {
    const [n0, n1, n2] = scan.size;
    const keptSlices = n2 - 20;
    // LPS z grows with k here (identity direction), so the top slices are the last ones.
    const cropped: Volume = {
      ...scan,
      size: [n0, n1, keptSlices],
      data: scan.data.slice(0, n0 * n1 * keptSlices),
    };
    const result = segmentLungs(resampleToWorkingGrid(cropped, 2));

    expect(result.coverage.complete).toBe(false);
    expect(result.coverage.touchesTop).toBe(true);
    expect(result.coverage.touchesBottom).toBe(false);
  });
});

describe('segmentLungs on ts-thorax-crop', () => {
  it('warns about lungs cut at the sides', async () => {
    const scan = (await readScan(path.join(REAL_DATA_DIR, 'ts-thorax-crop', 'ct.nii.gz'))).volume;
    const { coverage, warnings } = segmentLungs(resampleToWorkingGrid(scan, 2));
    console.log('ts-thorax-crop coverage', coverage);

    expect(coverage.sideBorderFraction).toBeGreaterThan(0.01);
    expect(warnings.length > 0 || !coverage.complete).toBe(true);
  });
});

describe('segmentLungs on a synthetic chest', () => {
  // The image is narrower than the body, so both lungs are cut by the left and right edges.
  const phantom = makeSyntheticChest({
    size: [120, 120, 150],
    spacingMm: [2, 2, 2],
    circularFov: false,
  });
  const result = segmentLungs(phantom.volume);
  const count = (truth: number, label: number) => {
    let total = 0;
    for (let n = 0; n < phantom.truth.length; n++) {
      if (phantom.truth[n] === truth && result.labels.data[n] === label) total++;
    }
    return total;
  };

  it('finds lungs that touch the image edge', () => {
    const rightTruth = count(1, 0) + count(1, 1) + count(1, 2);
    const leftTruth = count(2, 0) + count(2, 1) + count(2, 2);
    expect(count(1, LUNG_LABELS.right) / rightTruth).toBeGreaterThan(0.95);
    expect(count(2, LUNG_LABELS.left) / leftTruth).toBeGreaterThan(0.95);
    let onEdge = 0;
    for (let n = 0; n < result.labels.data.length; n += 120) if (result.labels.data[n]) onEdge++;
    expect(onEdge).toBeGreaterThan(0);
  });

  it('never labels outside air as lung', () => {
    expect(count(4, LUNG_LABELS.right) + count(4, LUNG_LABELS.left)).toBe(0);
  });

  it('removes the trachea and main bronchi', () => {
    const airway = count(3, 0) + count(3, 1) + count(3, 2);
    expect(count(3, 0) / airway).toBeGreaterThan(0.9);
  });

  it('warns that the lungs touch the side edge', () => {
    expect(result.coverage.complete).toBe(true);
    expect(result.coverage.sideBorderFraction).toBeGreaterThan(0.01);
    expect(result.warnings.length).toBeGreaterThan(0);
  });

  it('BAD CALL - rejects a scan without air in the body', () => {
    const solid: Volume = {
      ...phantom.volume,
      data: new Int16Array(phantom.volume.data.length).fill(40),
    };
    let error: unknown;
    try {
      segmentLungs(solid);
    } catch (caught) {
      error = caught;
    }
    expect(isInputError(error)).toBe(true);
    expect((error as { code?: string }).code).toBe('LUNGS_NOT_FOUND');
  });

  it('BAD CALL - rejects a volume that is not axis-aligned', () => {
    const flipped: Volume = {
      ...phantom.volume,
      direction: Float64Array.of(1, 0, 0, 0, 1, 0, 0, 0, -1),
    };
    expect(() => segmentLungs(flipped)).toThrow(RangeError);
  });
});
