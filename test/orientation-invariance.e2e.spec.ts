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
/**
 * Largest relative change of the whole-lung QCT volume for the same voxels stored in another
 * axis order. Labels come from the same working grid, so only native voxels exactly halfway
 * between two label voxels may round the other way.
 */
const QCT_VOLUME_TOLERANCE = 0.001;
/** Largest change of whole-lung %LAA-950, in percentage points, for another axis order. */
const QCT_LAA_TOLERANCE_POINTS = 0.05;

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
let originalQct: WholeLungQct | null;

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

type WholeLungQct = { volumeMl: number; laa950Percent: number | null };

async function predictionOf(
  file: string,
): Promise<{ estimate: number; qct: WholeLungQct | null }> {
  const prediction = await predictScan(file, SUBJECT, { model, explain: ['contributions'] });
  return { estimate: prediction.result.dlco.estimate, qct: prediction.result.qct.wholeLung };
}

async function estimateOf(file: string): Promise<number> {
  return (await predictionOf(file)).estimate;
}

beforeAll(async () => {
  model = await loadModel(modelChoice.dir);
  original = (await readScan(SCANS.ct64Nrrd)).volume;
  ({ estimate: originalEstimate, qct: originalQct } = await predictionOf(SCANS.ct64Nrrd));
  console.log(
    `cip-ct64 original (${modelChoice.name} model): ${originalEstimate.toFixed(4)} ml/min/mmHg`,
  );
});

describe('estimate and QCT on cip-ct64 stored another way', () => {
  it.each(REORDERINGS)('matches the original with $name', async ({ name, file, reordering }) => {
    const path = join(workDir, file);
    const copy = reorderAxes(original, reordering);
    expect(copy.size).toEqual(reordering.axes.map((axis) => original.size[axis]));
    expect(copy.data).not.toEqual(original.data);
    expect(countMisplacedVoxels(copy)).toBe(0);
    await writeHuVolume(path, copy);
    const prediction = await predictionOf(path);
    const estimate = prediction.estimate;
    expect(prediction.qct).not.toBeNull();
    expect(originalQct).not.toBeNull();
    const qct = prediction.qct!;
    const reference = originalQct!;
    const change = Math.abs(estimate - originalEstimate) / originalEstimate;
    console.log(
      `cip-ct64 ${name}: ${estimate.toFixed(4)} ml/min/mmHg ` +
        `(${(100 * change).toFixed(3)} % from the original), whole-lung QCT ` +
        `${qct.volumeMl.toFixed(1)} mL against ${reference.volumeMl.toFixed(1)} mL, ` +
        `%LAA-950 ${qct.laa950Percent} against ${reference.laa950Percent}`,
    );
    expect(change).toBeLessThanOrEqual(REORDERED_TOLERANCE);

    expect(reference.volumeMl).toBeGreaterThan(0);
    const volumeChange = Math.abs(qct.volumeMl - reference.volumeMl) / reference.volumeMl;
    expect(volumeChange).toBeLessThanOrEqual(QCT_VOLUME_TOLERANCE);
    expect(qct.laa950Percent).not.toBeNull();
    const laaChange = Math.abs(qct.laa950Percent! - reference.laa950Percent!);
    expect(laaChange).toBeLessThanOrEqual(QCT_LAA_TOLERANCE_POINTS);
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
