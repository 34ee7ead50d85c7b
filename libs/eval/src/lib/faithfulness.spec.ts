import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { writeFloatVolume, writeLabelVolume, type VolumeGeometry } from '@dlco/preprocess';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { EvalInputError } from './errors.ts';
import { evaluateFaithfulness, type SubjectFaithfulness } from './faithfulness.ts';
import { patchBox, readTruthVolumes, sumTruthInBoxes } from './faithfulness-truth.ts';
import { readLabelsFile } from './read-labels.ts';
import { readPredictionsFile } from './read-predictions.ts';

/*
 * A 24 × 4 × 4 truth grid at 1 mm contains six 4 mm patches side by side along x (patch size 2
 * voxels at 2 mm). Each patch has one deficit per voxel, so its truth is 64 times that value.
 */
const PATCH_DEFICIT_PER_VOXEL = [0, 0.1, 0.02, 0, 0.05, 0.01];
const PATCH_TRUTH = PATCH_DEFICIT_PER_VOXEL.map((value) => 64 * value);
/** Patches with one lesion voxel (label 2); patch 2 has deficit but no lesion label. */
const LESION_PATCHES = [1, 4];
const ZONES = ['A', 'A', 'B', 'B', 'C', 'D'];
const GRID: VolumeGeometry = {
  size: [24, 4, 4],
  spacingMm: [1, 1, 1],
  originMm: [0, 0, 0],
  direction: Float64Array.of(1, 0, 0, 0, 1, 0, 0, 0, 1),
};
/** The same grid stored with the x axis reversed, as some simulator profiles store axes. */
const REVERSED_GRID: VolumeGeometry = {
  ...GRID,
  originMm: [23, 0, 0],
  direction: Float64Array.of(-1, 0, 0, 0, 1, 0, 0, 0, 1),
};

const workDir = mkdtempSync(join(tmpdir(), 'dlco-eval-faithfulness-'));
afterAll(() => rmSync(workDir, { recursive: true, force: true }));

async function writeTruth(
  dir: string,
  geometry: VolumeGeometry,
  deficitPerVoxel: readonly number[],
  lesionPatches: readonly number[],
  lungLabel = 1,
): Promise<void> {
  mkdirSync(dir, { recursive: true });
  const [nx, ny, nz] = geometry.size;
  const deficit = new Float32Array(nx * ny * nz);
  const labels = new Uint8Array(nx * ny * nz).fill(lungLabel);
  const reversed = geometry.direction[0] < 0;
  for (let k = 0; k < nz; k++) {
    for (let j = 0; j < ny; j++) {
      for (let i = 0; i < nx; i++) {
        const x = reversed ? nx - 1 - i : i;
        const patch = Math.floor(x / 4);
        const index = i + nx * (j + ny * k);
        deficit[index] = deficitPerVoxel[patch];
        // One lesion voxel at the patch's first corner.
        if (lesionPatches.includes(patch) && x % 4 === 0 && j === 0 && k === 0) labels[index] = 2;
      }
    }
  }
  await writeFloatVolume(join(dir, 'deficit.nii.gz'), geometry, deficit);
  await writeLabelVolume(join(dir, 'labels.nii.gz'), { ...geometry, data: labels });
}

interface PatchSpec {
  deficit: number;
  attention: number;
  occlusion: number;
}

/** Writes a result.json with the fields that the faithfulness metrics read. */
function writeResult(dir: string, patches: PatchSpec[], shapley: Record<string, number>): void {
  mkdirSync(dir, { recursive: true });
  const result = {
    preprocessing: { params: { workingSpacingMm: 2, patchSizeVoxels: 2 } },
    patches: patches.map((patch, n) => ({
      index: n,
      zone: ZONES[n],
      cornerIjk: [2 * n, 0, 0],
      centerMm: [4 * n + 1.5, 1.5, 1.5],
      lungMl: 0.064,
      contributionMlMinMmHg: 1,
      deficitMlMinMmHg: patch.deficit,
      weight: patch.attention,
      attentionWeight: patch.attention,
      occlusionMlMinMmHg: patch.occlusion,
    })),
    regions: Object.entries(shapley).map(([zone, value]) => ({ zone, shapleyMlMinMmHg: value })),
    explanations: {
      deletion: {
        rankedBy: 'occlusion attribution, most negative first',
        points: [],
        normalisedAuc: 0.25,
      },
    },
  };
  writeFileSync(join(dir, 'result.json'), JSON.stringify(result));
}

const DEFICITS = [0.5, 3, 1, 0.2, 2, 0.1];
const OCCLUSIONS = [-0.25, -0.25, -1, 0, -0.5, -0.5];
const PATCHES: PatchSpec[] = DEFICITS.map((deficit, n) => ({
  deficit,
  attention: 1 / 6,
  occlusion: OCCLUSIONS[n],
}));
const SHAPLEY = { A: -2, B: -0.5, C: -1, D: 0.1 };

const resultsDir = join(workDir, 'run');
const labelsPath = join(workDir, 'cohort', 'manifest.csv');
const predictionsPath = join(resultsDir, 'predictions.csv');
const gradcamPath = join(workDir, 'gradcam.csv');

beforeAll(async () => {
  const cohort = join(workDir, 'cohort');
  await writeTruth(join(cohort, 'truth', 'lesion'), GRID, PATCH_DEFICIT_PER_VOXEL, LESION_PATCHES);
  await writeTruth(
    join(cohort, 'truth', 'flipped'),
    REVERSED_GRID,
    PATCH_DEFICIT_PER_VOXEL,
    LESION_PATCHES,
  );
  await writeTruth(join(cohort, 'truth', 'healthy'), GRID, [0, 0, 0, 0, 0, 0], []);
  await writeTruth(join(cohort, 'truth', 'vascular'), GRID, [0.01, 0.03, 0.02, 0, 0, 0], [], 9);
  for (const id of ['lesion', 'flipped', 'healthy', 'vascular', 'notruth']) {
    writeResult(join(resultsDir, id), PATCHES, SHAPLEY);
  }
  writeFileSync(
    labelsPath,
    [
      'id,dlco,phenotype,truth_path',
      'lesion,20,centrilobular,truth/lesion',
      'flipped,20,centrilobular,truth/flipped',
      'healthy,25,healthy,truth/healthy',
      'vascular,18,vascular,truth/vascular',
      'noresult,20,fibrosis,truth/lesion',
      'notruth,20,fibrosis,truth/absent',
      'nopath,20,fibrosis,',
    ].join('\n') + '\n',
  );
  writeFileSync(
    predictionsPath,
    [
      'id,estimate',
      'lesion,19',
      'flipped,19',
      'healthy,24',
      'vascular,20',
      'noresult,20',
      'notruth,20',
      'nopath,20',
    ].join('\n') + '\n',
  );
  const gradcam = ['id,patch_index,value'];
  for (const id of ['lesion', 'flipped']) {
    [0, 1, 0, 0, 0, 0].forEach((value, n) => gradcam.push(`${id},${n},${value}`));
  }
  writeFileSync(gradcamPath, `${gradcam.join('\n')}\n`);
});

describe('sumTruthInBoxes', () => {
  const boxes = PATCHES.map((_, n) => patchBox([4 * n + 1.5, 1.5, 1.5], 2, 2));

  it('sums voxels whose centres fall in each box', async () => {
    const truth = sumTruthInBoxes(
      await readTruthVolumes(join(workDir, 'cohort/truth/lesion')),
      boxes,
    );
    truth.patches.forEach((patch, n) => expect(patch.deficit).toBeCloseTo(PATCH_TRUTH[n], 4));
    expect(truth.patches.map((patch) => patch.lesionVoxels)).toEqual([0, 1, 0, 0, 1, 0]);
    expect(truth.totalDeficit).toBeCloseTo(11.52, 4);
    expect(truth.totalLesionVoxels).toBe(2);
  });

  it('applies a reversed axis', async () => {
    const truth = sumTruthInBoxes(
      await readTruthVolumes(join(workDir, 'cohort/truth/flipped')),
      boxes,
    );
    truth.patches.forEach((patch, n) => expect(patch.deficit).toBeCloseTo(PATCH_TRUTH[n], 4));
    expect(truth.patches.map((patch) => patch.lesionVoxels)).toEqual([0, 1, 0, 0, 1, 0]);
  });
});

describe('evaluateFaithfulness', () => {
  let rows: SubjectFaithfulness[];
  let report: Awaited<ReturnType<typeof evaluateFaithfulness>>;
  const row = (id: string, method: string) =>
    rows.find((entry) => entry.id === id && entry.method === method)!;

  beforeAll(async () => {
    report = await evaluateFaithfulness(
      await readPredictionsFile(predictionsPath),
      await readLabelsFile(labelsPath),
      { resamples: 50, seed: 3, explanations: [{ name: 'gradcam', path: gradcamPath }] },
    );
    rows = [...report.perSubject];
  });

  it('accounts for every subject', () => {
    expect(report.resultsDir).toBe(resultsDir);
    expect(report.subjects.evaluated).toBe(4);
    expect(report.subjects.missingResults).toEqual(['noresult']);
    expect(report.subjects.missingTruth).toEqual(['notruth']);
    expect(report.subjects.withoutTruthPath).toEqual(['nopath']);
    expect(report.methods).toEqual([
      'contributions',
      'attention',
      'occlusion',
      'shapley',
      'gradcam',
    ]);
  });

  it('contributions rank zones as the truth', () => {
    // Zone truth A 6.4, B 1.28, C 3.2, D 0.64; zone deficits A 3.5, B 1.2, C 2, D 0.1.
    const contributions = row('lesion', 'contributions');
    expect(contributions.zoneSpearman).toBeCloseTo(1, 12);
    expect(contributions.pointingGame).toBe(1);
    // Two of the six patches contain a lesion voxel.
    expect(contributions.pointingGameChance).toBeCloseTo(2 / 6, 12);
    expect(contributions.deletionAuc).toBeUndefined();
    expect(contributions.truthCoverage).toBeCloseTo(1, 5);
  });

  it('contributions recovery matches a hand curve', () => {
    // By deficit: truth 6.4, 3.2, 1.28, 0, 0, 0.64 of 11.52; oracle 6.4, 3.2, 1.28, 0.64, 0, 0.
    const trapezoid = (steps: number[]) => {
      const shares = [0];
      for (const step of steps) shares.push(shares[shares.length - 1] + step / 11.52);
      let area = 0;
      for (let k = 1; k < shares.length; k++) area += (shares[k - 1] + shares[k]) / 2 / 6;
      return area;
    };
    const area = trapezoid([6.4, 3.2, 1.28, 0, 0, 0.64]);
    const oracle = trapezoid([6.4, 3.2, 1.28, 0.64, 0, 0]);
    expect(row('lesion', 'contributions').recoveryAuc).toBeCloseTo(
      (area - 0.5) / (oracle - 0.5),
      5,
    );
  });

  it('occlusion flips sign and misses the lesion', () => {
    // -occlusion per zone A 0.5, B 1, C 0.5, D 0.5 against truth 6.4, 1.28, 3.2, 0.64: ranks
    // 2, 4, 2, 2 and 4, 2, 3, 1 give centred cross products -1 and squares 3 and 5.
    const occlusion = row('lesion', 'occlusion');
    expect(occlusion.zoneSpearman).toBeCloseTo(-1 / Math.sqrt(15), 5);
    expect(occlusion.pointingGame).toBe(0);
    expect(occlusion.deletionAuc).toBe(0.25);
  });

  it('attention ties give chance scores', () => {
    const attention = row('lesion', 'attention');
    expect(attention.patchSpearman).toBeNaN();
    expect(attention.pointingGame).toBeCloseTo(2 / 6, 12);
    expect(attention.recoveryAuc).toBeCloseTo(0, 12);
  });

  it('shapley is scored per zone only', () => {
    const shapley = row('lesion', 'shapley');
    expect(shapley.zoneSpearman).toBeCloseTo(1, 12);
    expect(shapley.zoneRecoveryAuc).toBeCloseTo(1, 5);
    expect(shapley.pointingGame).toBeUndefined();
    expect(shapley.recoveryAuc).toBeUndefined();
  });

  it('reads an extra method from a CSV', () => {
    expect(row('lesion', 'gradcam').pointingGame).toBe(1);
    expect(rows.some((entry) => entry.id === 'healthy' && entry.method === 'gradcam')).toBe(false);
  });

  it('a reversed truth grid scores the same', () => {
    for (const method of ['contributions', 'occlusion', 'attention']) {
      expect(row('flipped', method).recoveryAuc).toBeCloseTo(row('lesion', method).recoveryAuc!, 6);
      expect(row('flipped', method).pointingGame).toBe(row('lesion', method).pointingGame);
    }
  });

  it('healthy truth leaves metrics undefined', () => {
    const healthy = row('healthy', 'contributions');
    expect(healthy.zoneSpearman).toBeNaN();
    expect(healthy.pointingGame).toBeNaN();
    expect(healthy.recoveryAuc).toBeNaN();
    expect(healthy.truthCoverage).toBeNaN();
  });

  it('groups exclude the negative control from all', () => {
    const all = report.groups.find(
      (group) => group.phenotype === 'all' && group.method === 'contributions',
    )!;
    // lesion, flipped and healthy; the healthy subject's rho is undefined.
    expect(all.metrics.zoneSpearman!.n).toBe(2);
    expect(all.metrics.zoneSpearman!.nUndefined).toBe(1);
    expect(all.metrics.zoneSpearman!.estimate).toBeCloseTo(1, 12);
    expect(all.metrics.pointingGame!.statistic).toBe('mean');
    expect(all.metrics.deletionAuc).toBeUndefined();
    const gradcam = report.groups.find(
      (group) => group.phenotype === 'all' && group.method === 'gradcam',
    )!;
    expect(gradcam.metrics.pointingGame!.nMissing).toBe(1);
    const vascular = report.groups.find(
      (group) => group.phenotype === 'vascular' && group.method === 'contributions',
    )!;
    expect(vascular.metrics.zoneSpearman!.n).toBe(1);
    // Label 9 (vascular disease region) marks the whole lung here, so every patch is a hit.
    expect(vascular.metrics.pointingGame!.n).toBe(1);
    expect(vascular.metrics.pointingGame!.estimate).toBe(1);
  });
});

describe('evaluateFaithfulness errors', () => {
  it('BAD CALL - missing results folder', async () => {
    const failed = evaluateFaithfulness(
      await readPredictionsFile(predictionsPath),
      await readLabelsFile(labelsPath),
      { resultsDir: join(workDir, 'nowhere') },
    );
    await expect(failed).rejects.toMatchObject({ code: 'EVAL_FILE_NOT_FOUND' });
    await expect(failed).rejects.toThrow(/nowhere does not exist.*--results/);
  });

  it('BAD CALL - CSV missing a patch', async () => {
    const partial = join(workDir, 'partial.csv');
    writeFileSync(partial, 'id,patch_index,value\nlesion,0,1\nlesion,1,2\n');
    const failed = evaluateFaithfulness(
      await readPredictionsFile(predictionsPath),
      await readLabelsFile(labelsPath),
      { resamples: 10, explanations: [{ name: 'partial', path: partial }] },
    );
    await expect(failed).rejects.toBeInstanceOf(EvalInputError);
    await expect(failed).rejects.toThrow(/4 patch indices missing/);
  });

  it('BAD CALL - method name taken', async () => {
    const failed = evaluateFaithfulness(
      await readPredictionsFile(predictionsPath),
      await readLabelsFile(labelsPath),
      { explanations: [{ name: 'occlusion', path: gradcamPath }] },
    );
    await expect(failed).rejects.toThrow(/'occlusion' is already used/);
  });
});
