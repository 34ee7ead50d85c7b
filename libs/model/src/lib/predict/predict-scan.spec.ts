import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { embeddingSpacePatchOcclusion } from '@dlco/explain';
import { preprocessScan, type PreprocessScanResult } from '@dlco/preprocess';
import { gliDlco, percentPredicted, zScore } from '@dlco/reference';
import { readImageNode } from '@itk-wasm/image-io';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { isModelError } from '../errors.ts';
import { loadModel } from '../load-model.ts';
import { metadataVector, type SubjectMetadata } from '../metadata.ts';
import type { DlcoModel } from '../model.ts';
import {
  TINY_ATTENTION_MODEL_DIR,
  TINY_MODEL_DIR,
  TINY_RETAINED_FRACTION_MODEL_DIR,
} from '../testing-fixtures.ts';
import {
  bagInputs,
  createBagAggregator,
  encodeReferenceEmbedding,
  encodeReferenceReplacements,
} from './bag-replacement.ts';
import { explainOcclusion } from './patch-explanations.ts';
import { predictScan } from './predict-scan.ts';
import type { Prediction } from './prediction-types.ts';
import { DEFICIT_DEFINITION, MODEL_DEFICIT_DEFINITION } from './regions.ts';
import { RESULT_SCHEMA_PATH, resultSchemaErrors } from './result-schema.ts';
import { writePrediction } from './write-prediction.ts';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../../../../..');
const REAL_DATA = join(REPO, '..', 'shared', 'data', 'real');
const CT64 = join(REAL_DATA, 'cip-ct64', 'ct-64.nrrd');
const TWO_SLICES = join(REAL_DATA, 'lungmask-two-slices');
const THORAX_CROP = join(REAL_DATA, 'ts-thorax-crop', 'ct.nii.gz');

const SUBJECT: SubjectMetadata = {
  ageYears: 63,
  sex: 'M',
  heightCm: 175,
  weightKg: 80,
  smoking: 'former',
  packYears: 30,
  hbGdl: 14,
};

let model: DlcoModel;
let preprocessed: PreprocessScanResult;
let prediction: Prediction;
let outDir: string;
const temporaryDirs: string[] = [];

async function temporaryDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'dlco-predict-'));
  temporaryDirs.push(dir);
  return dir;
}

beforeAll(async () => {
  model = await loadModel(TINY_MODEL_DIR);
  preprocessed = await preprocessScan(CT64);
  prediction = await predictScan(CT64, SUBJECT, {
    model,
    preprocessed,
    explain: ['contributions', 'attention', 'occlusion', 'shapley', 'deletion', 'sliding-window'],
  });
  outDir = join(await temporaryDir(), 'result');
  await writePrediction(outDir, prediction);
}, 300_000);

afterAll(async () => {
  await Promise.all(temporaryDirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

function sum(values: Iterable<number>): number {
  let total = 0;
  for (const value of values) total += value;
  return total;
}

describe('predictScan on cip-ct64', () => {
  it('writes a result.json valid against the schema', async () => {
    const schema = JSON.parse(await readFile(RESULT_SCHEMA_PATH, 'utf8')) as object;
    const validate = new Ajv2020({ allErrors: true }).compile(schema);
    const written = JSON.parse(await readFile(join(outDir, 'result.json'), 'utf8'));
    expect(validate(written), JSON.stringify(validate.errors)).toBe(true);
    expect(written.dlco.estimate).toBeCloseTo(prediction.result.dlco.estimate, 10);
  });

  it('writes exactly the expected files', async () => {
    const files = (await readdir(outDir)).sort();
    expect(files).toEqual([
      'lung-mask.nii.gz',
      'map.nii.gz',
      'result.json',
      'sliding-window.nii.gz',
    ]);
    const siblings = await readdir(dirname(outDir));
    expect(siblings).toEqual(['result']);
  });

  it('contributions sum to the estimate', () => {
    const { result } = prediction;
    const estimate = result.dlco.estimate;
    expect(
      Math.abs(sum(result.patches.map((patch) => patch.contributionMlMinMmHg)) - estimate),
    ).toBeLessThan(1e-3);
    expect(
      Math.abs(sum(result.regions.map((region) => region.contributionMlMinMmHg)) - estimate),
    ).toBeLessThan(1e-3);
    expect(result.patches).toHaveLength(preprocessed.patches.count);
  });

  it('deficits sum to predicted minus estimate', () => {
    const { result } = prediction;
    const total = result.dlco.predicted! - result.dlco.estimate;
    expect(result.deficit.totalMlMinMmHg).toBeCloseTo(total, 9);
    expect(
      Math.abs(sum(result.regions.map((region) => region.deficitMlMinMmHg!)) - total),
    ).toBeLessThan(1e-3);
    expect(
      Math.abs(
        sum(result.regions.map((region) => region.expectedMlMinMmHg!)) - result.dlco.predicted!,
      ),
    ).toBeLessThan(1e-3);
  });

  it('states the lung-volume deficit definition', () => {
    expect(prediction.result.deficit.definition).toBe(DEFICIT_DEFINITION);
    expect(prediction.aggregate.expected).toBeNull();
  });

  it('reference values follow GLI with Hb correction', () => {
    const { dlco } = prediction.result;
    const reference = gliDlco({ ageYears: 63, sex: 'M', heightCm: 175, hbGdl: 14 });
    expect(dlco.predicted).toBeCloseTo(reference.predicted, 10);
    expect(dlco.lln).toBeCloseTo(reference.lln, 10);
    expect(dlco.zScore).toBeCloseTo(zScore(dlco.estimate, reference), 10);
    expect(dlco.percentPredicted).toBeCloseTo(percentPredicted(dlco.estimate, reference), 10);
    expect(dlco.reference.hbCorrected).toBe(true);
    expect(dlco.lower).toBeLessThan(dlco.estimate);
    expect(dlco.upper).toBeGreaterThan(dlco.estimate);
  });

  it('states intended use, model and baseline', () => {
    const { result } = prediction;
    expect(result.intendedUse).toMatch(/^Research use, not diagnosis\./);
    expect(result.model.id).toBe('dlco-ct-tiny-model');
    expect(result.model.version).toBe('fixture-1');
    expect(result.model.trainedOn).toContain('0 training scans');
    expect(result.warnings.some((warning) => warning.includes('trained on no scan'))).toBe(true);
    expect(result.baseline?.missing).toEqual([]);
    const terms = result.baseline!.terms;
    const manual =
      model.baseline!.intercept + sum(terms.map((term) => term.coefficient * term.value!));
    expect(result.baseline!.estimateMlMinMmHg).toBeCloseTo(manual, 9);
    expect(result.input.fileName).toBe('ct-64.nrrd');
  });

  it('maps have exactly the input geometry', async () => {
    const input = await readImageNode(CT64);
    for (const file of ['map.nii.gz', 'lung-mask.nii.gz', 'sliding-window.nii.gz']) {
      const image = await readImageNode(join(outDir, file));
      expect(image.size, file).toEqual(input.size);
      for (let axis = 0; axis < 3; axis++) {
        // NIfTI stores spacing and origin as float32.
        expect(Math.abs(image.spacing[axis] - input.spacing[axis]), file).toBeLessThan(1e-5);
        expect(Math.abs(image.origin[axis] - input.origin[axis]), file).toBeLessThan(1e-4);
      }
      const direction = Array.from(image.direction as Float64Array);
      const inputDirection = Array.from(input.direction as Float64Array);
      direction.forEach((value, index) => {
        expect(Math.abs(value - inputDirection[index]), file).toBeLessThan(1e-6);
      });
    }
  });

  it('map mass lies inside the lung mask', async () => {
    const map = (await readImageNode(join(outDir, 'map.nii.gz'))).data as Float32Array;
    const mask = (await readImageNode(join(outDir, 'lung-mask.nii.gz'))).data as Uint8Array;
    let inside = 0;
    let total = 0;
    for (let n = 0; n < map.length; n++) {
      total += Math.abs(map[n]);
      if (mask[n] !== 0) inside += Math.abs(map[n]);
    }
    expect(total).toBeGreaterThan(0);
    expect(inside / total).toBeGreaterThanOrEqual(0.99);
  });

  it('map integrates to the total deficit', () => {
    const [sx, sy, sz] = preprocessed.working.source.spacingMm;
    const integral = (sum(prediction.maps.map) * sx * sy * sz) / 1000;
    const total = prediction.result.deficit.totalMlMinMmHg!;
    expect(Math.abs(integral - total)).toBeLessThan(0.05 * Math.abs(total));
  });

  it('lung mask volume is near the reference mask', () => {
    const [sx, sy, sz] = preprocessed.working.source.spacingMm;
    const voxels = prediction.maps.lungMask.reduce(
      (count, label) => count + (label === 0 ? 0 : 1),
      0,
    );
    // The Chest Imaging Platform's whole-lung mask of this scan is 4554 mL.
    expect(Math.abs((voxels * sx * sy * sz) / 1000 - 4554)).toBeLessThan(0.1 * 4554);
  });

  it('zone Shapley values are efficient', () => {
    const shapley = prediction.result.explanations.shapley as {
      values: number[];
      allHealthyEstimate: number;
      fullEstimate: number;
    };
    expect(sum(shapley.values)).toBeCloseTo(shapley.fullEstimate - shapley.allHealthyEstimate, 4);
    expect(shapley.fullEstimate).toBeCloseTo(prediction.result.dlco.estimate, 5);
  });

  it('zone Shapley equals zone occlusion for additive pooling', () => {
    for (const region of prediction.result.regions) {
      expect(
        Math.abs(region.shapleyMlMinMmHg! - region.occlusionMlMinMmHg!),
        region.zone,
      ).toBeLessThan(1e-3);
    }
  });

  it('deletion curve runs from the estimate to all healthy', () => {
    const deletion = prediction.result.explanations.deletion as {
      points: { fraction: number; estimate: number }[];
      rankedBy: string;
    };
    const shapley = prediction.result.explanations.shapley as { allHealthyEstimate: number };
    expect(deletion.points).toHaveLength(21);
    expect(deletion.points[0].estimate).toBeCloseTo(prediction.result.dlco.estimate, 5);
    expect(deletion.points[20].estimate).toBeCloseTo(shapley.allHealthyEstimate, 4);
    expect(deletion.rankedBy).toMatch(/occlusion/);
  });

  it('sliding window covers every lung window', () => {
    const summary = prediction.result.explanations.slidingWindow as {
      windows: number;
      evaluations: number;
    };
    expect(summary.evaluations).toBe(summary.windows + 1);
    expect(prediction.maps.slidingWindow?.some((value) => value !== 0)).toBe(true);
  });
});

describe('patch occlusion', () => {
  it('embedding-space shortcut matches image space on all-lung patches', async () => {
    const { patches } = preprocessed;
    const bag = bagInputs(patches, metadataVector(model.card, SUBJECT));
    const embeddings = await model.encodePatches(patches);
    const replacements = await encodeReferenceReplacements(model, patches);
    const image = await explainOcclusion({
      model,
      patches,
      inputs: bag,
      embeddings,
      replacements,
      zones: model.card.zones,
    });
    const shortcut = await embeddingSpacePatchOcclusion(
      embeddings,
      await encodeReferenceEmbedding(model),
      createBagAggregator(model, bag),
    );
    const voxels = patches.patchSizeVoxels ** 3;
    let allLung = 0;
    let maxPartialGap = 0;
    for (let n = 0; n < patches.count; n++) {
      const mask = patches.mask.subarray(n * voxels, (n + 1) * voxels);
      const gap = Math.abs(image.attribution[n] - shortcut.attribution[n]);
      if (mask.every((label) => label !== 0)) {
        allLung++;
        expect(gap, `patch ${n}`).toBeLessThan(1e-5);
      } else {
        maxPartialGap = Math.max(maxPartialGap, gap);
      }
    }
    expect(allLung).toBeGreaterThan(10);
    expect(Number.isFinite(maxPartialGap)).toBe(true);
  });
});

describe('predictScan with attention pooling', () => {
  it('reports attention weights per patch', async () => {
    const attention = await loadModel(TINY_ATTENTION_MODEL_DIR);
    const { result } = await predictScan(CT64, SUBJECT, {
      model: attention,
      preprocessed,
      explain: ['attention'],
    });
    const weights = result.patches.map((patch) => patch.attentionWeight!);
    expect(weights.every((weight) => weight > 0)).toBe(true);
    expect(sum(weights)).toBeCloseTo(1, 4);
    expect(
      Math.abs(
        sum(result.patches.map((patch) => patch.contributionMlMinMmHg)) - result.dlco.estimate,
      ),
    ).toBeLessThan(1e-3);
    expect(result.model.pooling).toBe('attention');
  });
});

describe('predictScan with retained-fraction pooling', () => {
  let retained: Prediction;

  beforeAll(async () => {
    const retainedModel = await loadModel(TINY_RETAINED_FRACTION_MODEL_DIR);
    retained = await predictScan(CT64, SUBJECT, {
      model: retainedModel,
      preprocessed,
      explain: ['contributions', 'occlusion', 'shapley'],
    });
  }, 300_000);

  it('writes a schema-valid result', () => {
    expect(resultSchemaErrors(retained.result)).toEqual([]);
    expect(retained.result.model.pooling).toBe('retained_fraction');
  });

  it("states the model's deficit definition", () => {
    expect(retained.result.deficit.definition).toBe(MODEL_DEFICIT_DEFINITION);
    expect(retained.result.maps.map.quantity).toBe('deficit (expected - contribution)');
  });

  it('contributions sum to the estimate', () => {
    const { result } = retained;
    const patchSum = sum(result.patches.map((patch) => patch.contributionMlMinMmHg));
    expect(Math.abs(patchSum - result.dlco.estimate)).toBeLessThan(1e-3);
  });

  it('patch deficits are model expected minus contribution', () => {
    const { result, aggregate } = retained;
    expect(aggregate.expected).toHaveLength(result.patches.length);
    result.patches.forEach((patch, n) => {
      const modelDeficit = aggregate.expected![n] - aggregate.contributions[n];
      expect(patch.deficitMlMinMmHg, `patch ${n}`).toBe(modelDeficit);
    });
  });

  it('zone deficits sum to the total', () => {
    const { result, aggregate } = retained;
    const total = sum(aggregate.expected!) - result.dlco.estimate;
    expect(result.deficit.totalMlMinMmHg).toBeCloseTo(total, 9);
    const zoneDeficits = sum(result.regions.map((region) => region.deficitMlMinMmHg!));
    expect(Math.abs(zoneDeficits - total)).toBeLessThan(1e-3);
    const patchDeficits = sum(result.patches.map((patch) => patch.deficitMlMinMmHg!));
    expect(Math.abs(zoneDeficits - patchDeficits)).toBeLessThan(1e-9);
    const zoneExpected = sum(result.regions.map((region) => region.expectedMlMinMmHg!));
    expect(Math.abs(zoneExpected - sum(aggregate.expected!))).toBeLessThan(1e-9);
  });

  it('map integrates to the total deficit', () => {
    const [sx, sy, sz] = preprocessed.working.source.spacingMm;
    const integral = (sum(retained.maps.map) * sx * sy * sz) / 1000;
    const total = retained.result.deficit.totalMlMinMmHg!;
    expect(Math.abs(integral - total)).toBeLessThan(0.05 * Math.abs(total));
  });

  it('zone Shapley values are efficient', () => {
    const shapley = retained.result.explanations.shapley as {
      values: number[];
      allHealthyEstimate: number;
      fullEstimate: number;
    };
    expect(sum(shapley.values)).toBeCloseTo(shapley.fullEstimate - shapley.allHealthyEstimate, 4);
    expect(shapley.fullEstimate).toBeCloseTo(retained.result.dlco.estimate, 5);
  });

  it('omits deficits outside the GLI age range', async () => {
    const old = await predictScan(
      CT64,
      { ...SUBJECT, ageYears: 90 },
      { model: await loadModel(TINY_RETAINED_FRACTION_MODEL_DIR), preprocessed },
    );
    expect(old.aggregate.expected).not.toBeNull();
    expect(old.result.deficit.totalMlMinMmHg).toBeNull();
    expect(old.result.patches.every((patch) => patch.deficitMlMinMmHg === null)).toBe(true);
    expect(old.result.maps.map.quantity).toBe('contribution');
    expect(resultSchemaErrors(old.result)).toEqual([]);
    const fallback = old.result.warnings.find((warning) => warning.includes('training mean'));
    expect(fallback).toContain('gli_dlco_predicted input (25.00 ml/min/mmHg)');
    expect(fallback).toContain('proportional');
  });

  it('no fallback warning inside the GLI range', () => {
    const { warnings } = retained.result;
    expect(warnings.filter((warning) => warning.includes('training mean'))).toEqual([]);
  });
});

describe('predictScan outside the GLI age range', () => {
  it('omits reference values and maps contributions', async () => {
    const old = await predictScan(CT64, { ...SUBJECT, ageYears: 90 }, { model, preprocessed });
    const { result } = old;
    expect(result.dlco.predicted).toBeNull();
    expect(result.dlco.zScore).toBeNull();
    expect(result.deficit.totalMlMinMmHg).toBeNull();
    expect(result.regions.every((region) => region.deficitMlMinMmHg === null)).toBe(true);
    expect(result.maps.map.quantity).toBe('contribution');
    expect(result.warnings.some((warning) => warning.includes('No GLI reference values'))).toBe(
      true,
    );
    expect(resultSchemaErrors(result)).toEqual([]);
    const [sx, sy, sz] = preprocessed.working.source.spacingMm;
    const integral = (sum(old.maps.map) * sx * sy * sz) / 1000;
    expect(Math.abs(integral - result.dlco.estimate)).toBeLessThan(0.05 * result.dlco.estimate);
  });
});

describe('predictScan failures', () => {
  it('EXPECTED FAILURE - two slices', async () => {
    await expect(predictScan(TWO_SLICES, SUBJECT, { model })).rejects.toMatchObject({
      code: 'INPUT_TOO_FEW_SLICES',
    });
  });

  it('EXPECTED FAILURE - lungs cut at the top', async () => {
    await expect(predictScan(THORAX_CROP, SUBJECT, { model })).rejects.toMatchObject({
      code: 'LUNG_COVERAGE_INCOMPLETE',
    });
  }, 120_000);

  it('EXPECTED FAILURE - unknown explanation', async () => {
    const error = await predictScan(CT64, SUBJECT, { model, explain: ['saliency' as never] }).catch(
      (e) => e,
    );
    expect(isModelError(error)).toBe(true);
    expect(error.code).toBe('MODEL_INPUT_INVALID');
  });

  it('EXPECTED FAILURE - metadata out of range', async () => {
    const error = await predictScan(CT64, { ...SUBJECT, heightCm: 1.75 }, { model }).catch(
      (e) => e,
    );
    expect(error.code).toBe('METADATA_INVALID');
    expect(error.message).toContain('height 1.75 is outside 50 to 250 cm');
    expect(error.message).toContain('give 175');
    expect(error.message).not.toContain('heightCm');
  });
});

describe('writePrediction', () => {
  it('leaves nothing when a file fails', async () => {
    const parent = await temporaryDir();
    const target = join(parent, 'out');
    const failing = writePrediction(target, prediction, {
      writeExtraFiles: async () => {
        throw new Error('overlay failed');
      },
    });
    await expect(failing).rejects.toThrow('overlay failed');
    expect(await readdir(parent)).toEqual([]);
  });

  it('replaces an earlier result', async () => {
    const parent = await temporaryDir();
    const target = join(parent, 'out');
    await writePrediction(target, prediction);
    const firstFiles = (await readdir(target)).sort();
    await writePrediction(target, prediction);
    expect((await readdir(target)).sort()).toEqual(firstFiles);
    expect(firstFiles).toContain('result.json');
    expect(await readdir(parent)).toEqual(['out']);
  });

  it('EXPECTED FAILURE - earlier result with user files', async () => {
    const parent = await temporaryDir();
    const target = join(parent, 'out');
    await writePrediction(target, prediction);
    await writeFile(join(target, 'notes.txt'), 'keep me');
    const error = await writePrediction(target, prediction).catch((e) => e);
    expect(error.code).toBe('OUTPUT_EXISTS');
    expect(error.message).toContain('notes.txt');
    expect((await readdir(target)).includes('notes.txt')).toBe(true);
  });

  it('EXPECTED FAILURE - result.json beside a subfolder', async () => {
    const parent = await temporaryDir();
    await writeFile(join(parent, 'result.json'), '{"hello":1}');
    await mkdir(join(parent, 'important'));
    const error = await writePrediction(parent, prediction).catch((e) => e);
    expect(error.code).toBe('OUTPUT_EXISTS');
    expect((await readdir(parent)).sort()).toEqual(['important', 'result.json']);
  });

  it('EXPECTED FAILURE - folder with other files', async () => {
    const parent = await temporaryDir();
    await writeFile(join(parent, 'notes.txt'), 'keep me');
    const error = await writePrediction(parent, prediction).catch((e) => e);
    expect(error.code).toBe('OUTPUT_EXISTS');
    expect(await readdir(parent)).toEqual(['notes.txt']);
  });
});
