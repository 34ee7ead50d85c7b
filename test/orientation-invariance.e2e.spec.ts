import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { loadModel, predictScan, type DlcoModel, type SubjectMetadata } from '@dlco/model';
import { applyAffine, indexToIndex, readScan, type Volume } from '@dlco/preprocess';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { pickModelDir, SCANS } from './support/e2e-support.ts';
import {
  reorderAxes,
  rotateAxially,
  writeHuVolume,
  type AxisReordering,
} from './support/reoriented-volume.ts';

const SUBJECT: SubjectMetadata = { ageYears: 60, sex: 'M', heightCm: 175, weightKg: 80 };
/** Largest relative change allowed for the same voxels stored in another axis order. */
const REORDERED_TOLERANCE = 0.005;
/** Largest relative change allowed for the image turned 20° in the axial plane. */
const ROTATED_TOLERANCE = 0.03;

const REORDERINGS: { name: string; file: string; reordering: AxisReordering }[] = [
  {
    name: 'axes permuted (k, i, j), NRRD',
    file: 'permuted.nrrd',
    reordering: { axes: [2, 0, 1], flips: [false, false, false] },
  },
  {
    name: 'i and k flipped, NIfTI',
    file: 'flipped.nii.gz',
    reordering: { axes: [0, 1, 2], flips: [true, false, true] },
  },
  {
    name: 'i and j swapped, j flipped, NIfTI',
    file: 'swapped-flipped.nii.gz',
    reordering: { axes: [1, 0, 2], flips: [false, true, false] },
  },
];

const modelChoice = pickModelDir();
const workDir = mkdtempSync(join(tmpdir(), 'dlco-orientation-e2e-'));
afterAll(() => rmSync(workDir, { recursive: true, force: true }));

let model: DlcoModel;
let original: Volume;
let originalEstimate: number;

/** Counts voxels of `copy` whose value differs from the original's voxel at the same LPS point. */
function countMisplacedVoxels(copy: Volume): number {
  const toOriginal = indexToIndex(copy, original);
  const [n0, n1] = original.size;
  let misplaced = 0;
  for (let n = 0; n < copy.data.length; n += 97) {
    const i = n % copy.size[0];
    const j = Math.floor(n / copy.size[0]) % copy.size[1];
    const k = Math.floor(n / (copy.size[0] * copy.size[1]));
    const [x, y, z] = applyAffine(toOriginal, [i, j, k]).map(Math.round);
    if (copy.data[n] !== original.data[x + n0 * y + n0 * n1 * z]) misplaced++;
  }
  return misplaced;
}

async function estimateOf(file: string): Promise<number> {
  const prediction = await predictScan(file, SUBJECT, { model, explain: ['contributions'] });
  return prediction.result.dlco.estimate;
}

beforeAll(async () => {
  model = await loadModel(modelChoice.dir);
  original = (await readScan(SCANS.ct64Nrrd)).volume;
  originalEstimate = await estimateOf(SCANS.ct64Nrrd);
  console.log(
    `cip-ct64 original (${modelChoice.name} model): ${originalEstimate.toFixed(4)} ml/min/mmHg`,
  );
});

describe('estimate on cip-ct64 stored another way', () => {
  it.each(REORDERINGS)('matches the original with $name', async ({ name, file, reordering }) => {
    const path = join(workDir, file);
    const copy = reorderAxes(original, reordering);
    expect(copy.size).toEqual(reordering.axes.map((axis) => original.size[axis]));
    expect(copy.data).not.toEqual(original.data);
    expect(countMisplacedVoxels(copy)).toBe(0);
    await writeHuVolume(path, copy);
    const estimate = await estimateOf(path);
    const change = Math.abs(estimate - originalEstimate) / originalEstimate;
    console.log(
      `cip-ct64 ${name}: ${estimate.toFixed(4)} ml/min/mmHg ` +
        `(${(100 * change).toFixed(3)} % from the original)`,
    );
    expect(change).toBeLessThanOrEqual(REORDERED_TOLERANCE);
  });

  it('stays close with direction cosines turned 20 degrees axially', async () => {
    const path = join(workDir, 'rotated.nrrd');
    await writeHuVolume(path, rotateAxially(original, 20));
    const estimate = await estimateOf(path);
    const change = Math.abs(estimate - originalEstimate) / originalEstimate;
    console.log(
      `cip-ct64 rotated 20 degrees: ${estimate.toFixed(4)} ml/min/mmHg ` +
        `(${(100 * change).toFixed(3)} % from the original)`,
    );
    expect(change).toBeLessThanOrEqual(ROTATED_TOLERANCE);
  });
});
