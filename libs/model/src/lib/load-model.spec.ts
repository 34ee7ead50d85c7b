import { rm } from 'node:fs/promises';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { runningPreprocessing } from './compatibility.ts';
import { isModelError } from './errors.ts';
import { loadModel } from './load-model.ts';
import { metadataVector } from './metadata.ts';
import type { DlcoModel } from './model.ts';
import {
  copyModelWithCard,
  readExpected,
  recordingLogger,
  TINY_ATTENTION_MODEL_DIR,
  TINY_MODEL_DIR,
  TINY_RETAINED_FRACTION_MODEL_DIR,
} from './testing-fixtures.ts';

const TOLERANCE = 1e-4;
const temporaryDirs: string[] = [];

afterAll(async () => {
  await Promise.all(temporaryDirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

async function expectModelError(promise: Promise<unknown>, code: string): Promise<Error> {
  const error = await promise.then(
    () => undefined,
    (rejection: unknown) => rejection,
  );
  expect(isModelError(error), `expected a ModelError, got ${String(error)}`).toBe(true);
  expect((error as { code: string }).code).toBe(code);
  return error as Error;
}

async function editedCopy(edit: (card: Record<string, unknown>) => void): Promise<string> {
  const dir = await copyModelWithCard(TINY_MODEL_DIR, edit);
  temporaryDirs.push(join(dir, '..'));
  return dir;
}

function maxAbsDifference(actual: ArrayLike<number>, expected: readonly number[]): number {
  expect(actual.length).toBe(expected.length);
  let max = 0;
  for (let n = 0; n < expected.length; n++) max = Math.max(max, Math.abs(actual[n] - expected[n]));
  return max;
}

describe('loadModel', () => {
  it('reads the card, reference patch and baseline', async () => {
    const model = await loadModel(TINY_MODEL_DIR);
    expect(model.card.modelId).toBe('dlco-ct-tiny-model');
    expect(model.card.aggregator.pooling).toBe('additive');
    expect(model.referencePatchHu).toHaveLength(16 ** 3);
    expect(model.baseline?.features.map((feature) => feature.name)).toContain('laa950_percent');
    expect(model.intervalZ).toBeCloseTo(1.96, 6);
  });

  it('fixture hash equals the running preprocessing', async () => {
    const model = await loadModel(TINY_MODEL_DIR);
    // When this fails, regenerate the fixtures with libs/model/scripts/make-tiny-model.sh.
    expect(model.card.preprocessingHash).toBe(runningPreprocessing().hash);
  });

  it('returns the same model for a second load', async () => {
    const first = await loadModel(TINY_MODEL_DIR);
    const second = await loadModel(join(TINY_MODEL_DIR, '..', 'tiny-model'));
    expect(second).toBe(first);
  });

  it('loads a new model after release', async () => {
    const dir = await editedCopy(() => {});
    const first = await loadModel(dir);
    await first.release();
    const second = await loadModel(dir);
    expect(second).not.toBe(first);
    await expect(first.aggregate({} as never)).rejects.toThrow(/released/);
    await second.release();
  });

  it('logs the execution provider that runs', async () => {
    const dir = await editedCopy(() => {});
    const logger = recordingLogger();
    const model = await loadModel(dir, { logger, threads: 1 });
    const loaded = logger.records.find((record) => record.message.startsWith('model loaded'));
    expect(loaded?.level).toBe('info');
    expect(loaded?.fields.executionProvider).toBe(model.executionProvider);
    expect(loaded?.fields.threads).toBe(1);
    expect(['cuda', 'cpu']).toContain(model.executionProvider);
    if (model.executionProvider === 'cpu') {
      const probe = logger.records.find((record) => record.fields.executionProvider === 'cuda');
      expect(probe?.message).toMatch(/unavailable/);
    }
    await model.release();
  });

  it('runs on the CPU provider when asked', async () => {
    const dir = await editedCopy(() => {});
    const model = await loadModel(dir, { executionProviders: ['cpu'] });
    expect(model.executionProvider).toBe('cpu');
    await model.release();
  });

  it('EXPECTED FAILURE - other preprocessing hash', async () => {
    const dir = await editedCopy((card) => {
      card.preprocessingHash = 'f'.repeat(64);
    });
    const error = await expectModelError(loadModel(dir), 'MODEL_INCOMPATIBLE');
    expect(error.message).toContain('f'.repeat(64));
    expect(error.message).toContain(runningPreprocessing().hash);
  });

  it('EXPECTED FAILURE - unknown bag format version', async () => {
    const dir = await editedCopy((card) => {
      card.bagFormatVersions = [99];
    });
    const error = await expectModelError(loadModel(dir), 'MODEL_INCOMPATIBLE');
    expect(error.message).toContain('99');
  });

  it('EXPECTED FAILURE - unknown card format version', async () => {
    const dir = await editedCopy((card) => {
      card.cardFormatVersion = 99;
    });
    await expectModelError(loadModel(dir), 'MODEL_INCOMPATIBLE');
  });

  it('EXPECTED FAILURE - HU scaling outside the graph', async () => {
    const dir = await editedCopy((card) => {
      (card.normalisation as Record<string, unknown>).huScaling =
        'clip to huClip before the encoder';
    });
    const error = await expectModelError(loadModel(dir), 'MODEL_INCOMPATIBLE');
    expect(error.message).toContain('normalisation.huScaling');
  });

  it('EXPECTED FAILURE - float encoder input', async () => {
    const dir = await editedCopy((card) => {
      const encoder = card.encoder as { inputs: { dtype: string }[] };
      encoder.inputs[0].dtype = 'float32';
    });
    await expectModelError(loadModel(dir), 'MODEL_INCOMPATIBLE');
  });

  it('EXPECTED FAILURE - card without encoder file', async () => {
    const dir = await editedCopy((card) => {
      (card.files as Record<string, unknown>).encoder = 'missing.onnx';
    });
    const error = await expectModelError(loadModel(dir), 'MODEL_NOT_FOUND');
    expect(error.message).toContain('missing.onnx');
  });

  it('EXPECTED FAILURE - card without pooling', async () => {
    const dir = await editedCopy((card) => {
      delete (card.aggregator as Record<string, unknown>).pooling;
    });
    await expectModelError(loadModel(dir), 'MODEL_CARD_INVALID');
  });

  it('EXPECTED FAILURE - unknown pooling', async () => {
    const dir = await editedCopy((card) => {
      (card.aggregator as Record<string, unknown>).pooling = 'max';
    });
    const error = await expectModelError(loadModel(dir), 'MODEL_CARD_INVALID');
    expect(error.message).toContain('"max"');
    expect(error.message).toContain("'additive', 'attention' or 'retained_fraction'");
  });

  it('EXPECTED FAILURE - retained fraction without expected', async () => {
    const dir = await copyModelWithCard(TINY_RETAINED_FRACTION_MODEL_DIR, (card) => {
      const aggregator = card.aggregator as { outputs: { name: string }[] };
      aggregator.outputs = aggregator.outputs.filter((output) => output.name !== 'expected');
    });
    temporaryDirs.push(join(dir, '..'));
    const error = await expectModelError(loadModel(dir), 'MODEL_CARD_INVALID');
    expect(error.message).toContain('aggregator.outputs');
    expect(error.message).toContain("'expected'");
  });

  it('EXPECTED FAILURE - graph without expected output', async () => {
    // The additive fixture's graph has no `expected` output, whatever its card states.
    const dir = await editedCopy((card) => {
      const aggregator = card.aggregator as { pooling: string; outputs: { name: string }[] };
      aggregator.pooling = 'retained_fraction';
      aggregator.outputs.push({ ...aggregator.outputs[0], name: 'expected' });
    });
    const error = await expectModelError(loadModel(dir), 'MODEL_INCOMPATIBLE');
    expect(error.message).toContain('aggregator.onnx');
    expect(error.message).toContain("'expected'");
    expect(error.message).toContain('Export the model again');
  });

  it('EXPECTED FAILURE - missing folder', async () => {
    await expectModelError(loadModel(join(TINY_MODEL_DIR, 'nope')), 'MODEL_NOT_FOUND');
  });

  it('retries a folder after a failed load', async () => {
    const dir = await editedCopy((card) => {
      card.preprocessingHash = '0'.repeat(64);
    });
    await expectModelError(loadModel(dir), 'MODEL_INCOMPATIBLE');
    await expectModelError(loadModel(dir), 'MODEL_INCOMPATIBLE');
  });
});

describe.each([
  ['additive', TINY_MODEL_DIR],
  ['attention', TINY_ATTENTION_MODEL_DIR],
  ['retained_fraction', TINY_RETAINED_FRACTION_MODEL_DIR],
])('inference with %s pooling', (pooling, modelDir) => {
  async function run(model: DlcoModel, batchSize: number) {
    const { expected, bag } = await readExpected(modelDir);
    const embeddings = await model.encodePatches(bag.patches, { batchSize });
    const metadata = Float32Array.from(expected.metadata, (value) => value ?? Number.NaN);
    const result = await model.aggregate({
      embeddings,
      lungMl: bag.patches.lungMl,
      zone: bag.patches.zone,
      side: bag.patches.side,
      metadata,
    });
    return { expected, embeddings, result };
  }

  it('embeddings match PyTorch', async () => {
    const model = await loadModel(modelDir);
    const { expected, embeddings } = await run(model, 4);
    expect(embeddings.count).toBe(expected.embeddings.length);
    expect(embeddings.dimension).toBe(expected.embeddings[0].length);
    expect(maxAbsDifference(embeddings.data, expected.embeddings.flat())).toBeLessThan(TOLERANCE);
  });

  it('aggregator outputs match PyTorch', async () => {
    const model = await loadModel(modelDir);
    const { expected, result } = await run(model, 32);
    const outputs = expected.outputs;
    expect(Math.abs(result.estimate - outputs.dlco[0])).toBeLessThan(TOLERANCE);
    expect(Math.abs(result.sigma - outputs.sigma[0])).toBeLessThan(TOLERANCE);
    expect(maxAbsDifference(result.contributions, outputs.contributions)).toBeLessThan(TOLERANCE);
    expect(maxAbsDifference(result.patchWeights, outputs.patch_weights)).toBeLessThan(TOLERANCE);
    expect(maxAbsDifference(result.conductancePerMl!, outputs.conductance_per_ml)).toBeLessThan(
      TOLERANCE,
    );
    expect(Math.abs(result.globalFactor! - outputs.global_factor[0])).toBeLessThan(TOLERANCE);
    if (pooling === 'retained_fraction') {
      expect(maxAbsDifference(result.expected!, outputs.expected)).toBeLessThan(TOLERANCE);
      expect(maxAbsDifference(result.retainedFraction!, outputs.retained_fraction)).toBeLessThan(
        TOLERANCE,
      );
    } else {
      expect(result.expected).toBeNull();
      expect(result.retainedFraction).toBeNull();
    }
  });

  it('contributions sum to the estimate', async () => {
    const model = await loadModel(modelDir);
    const { result } = await run(model, 32);
    const sum = result.contributions.reduce((total, value) => total + value, 0);
    expect(Math.abs(sum - result.estimate)).toBeLessThan(1e-5 * Math.max(1, result.estimate));
    expect(result.lower).toBeCloseTo(Math.max(0, result.estimate - 1.96 * result.sigma), 5);
    expect(result.upper).toBeCloseTo(result.estimate + 1.96 * result.sigma, 5);
  });

  it('attention weights only for attention pooling', async () => {
    const model = await loadModel(modelDir);
    const { result } = await run(model, 32);
    if (pooling === 'attention') {
      expect(result.attentionWeights).not.toBeNull();
      const total = result.attentionWeights!.reduce((sum, value) => sum + value, 0);
      expect(total).toBeCloseTo(1, 5);
    } else {
      expect(result.attentionWeights).toBeNull();
    }
  });

  it('metadata vector matches the stored one', async () => {
    const model = await loadModel(modelDir);
    const { expected } = await readExpected(modelDir);
    const vector = metadataVector(model.card, {
      ageYears: 63,
      sex: 'M',
      heightCm: 172,
      weightKg: 81,
      smoking: 'former',
      hbGdl: 13.1,
      cohbPercent: 2.5,
    });
    expect(model.card.normalisation.metadata.map((feature) => feature.name)).toEqual(
      expected.metadataNames,
    );
    expected.metadata.forEach((value, index) => {
      if (value === null) expect(vector[index]).toBeNaN();
      else expect(vector[index]).toBeCloseTo(value, 4);
    });
  });

  it('EXPECTED FAILURE - wrong patch data length', async () => {
    const model = await loadModel(modelDir);
    const patches = { count: 2, hu: new Int16Array(10), mask: new Uint8Array(10) };
    await expectModelError(model.encodePatches(patches), 'MODEL_INPUT_INVALID');
  });
});
