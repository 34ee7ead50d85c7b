import type { PatchBag } from '@dlco/preprocess';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { loadModel } from '../load-model.ts';
import type { AggregateResult, DlcoModel } from '../model.ts';
import {
  readExpected,
  TINY_MODEL_DIR,
  TINY_RETAINED_FRACTION_MODEL_DIR,
  type ExpectedOutputs,
} from '../testing-fixtures.ts';
import {
  buildPatchResults,
  buildRegions,
  DEFICIT_DEFINITION,
  MODEL_DEFICIT_DEFINITION,
  patchDeficits,
  type PatchDeficits,
} from './regions.ts';

/** GLI predicted DLCO for `patchDeficits`, in ml/min/mmHg; any positive value means in range. */
const PREDICTED = 27.5;
const TOLERANCE = 1e-4;

interface Fixture {
  model: DlcoModel;
  bag: PatchBag;
  expected: ExpectedOutputs;
  aggregate: AggregateResult;
}

async function predictBag(modelDir: string): Promise<Fixture> {
  const model = await loadModel(modelDir);
  const { expected, bag } = await readExpected(modelDir);
  const embeddings = await model.encodePatches(bag.patches);
  const aggregate = await model.aggregate({
    embeddings,
    lungMl: bag.patches.lungMl,
    zone: bag.patches.zone,
    side: bag.patches.side,
    metadata: Float32Array.from(expected.metadata, (value) => value ?? Number.NaN),
  });
  return { model, bag, expected, aggregate };
}

function sum(values: ArrayLike<number>): number {
  let total = 0;
  for (let n = 0; n < values.length; n++) total += values[n];
  return total;
}

let retained: Fixture;
let additive: Fixture;

beforeAll(async () => {
  retained = await predictBag(TINY_RETAINED_FRACTION_MODEL_DIR);
  additive = await predictBag(TINY_MODEL_DIR);
});

afterAll(async () => {
  await Promise.all([retained.model.release(), additive.model.release()]);
});

describe('retained-fraction fixture on its bag', () => {
  it('card declares retained_fraction pooling', () => {
    const { card } = retained.model;
    expect(card.aggregator.pooling).toBe('retained_fraction');
    expect(card.aggregator.outputs.map((output) => output.name)).toContain('expected');
    expect(card.normalisation.metadata.at(-1)?.name).toBe('gli_dlco_predicted');
  });

  it('estimate equals the sum of contributions', () => {
    const { aggregate } = retained;
    expect(aggregate.contributions).toHaveLength(retained.bag.patches.count);
    expect(Math.abs(sum(aggregate.contributions) - aggregate.estimate)).toBeLessThan(1e-5);
  });

  it('contributions are expected times retained fraction', () => {
    const { contributions, expected, retainedFraction } = retained.aggregate;
    for (let n = 0; n < contributions.length; n++) {
      expect(retainedFraction![n], `patch ${n}`).toBeGreaterThan(0);
      expect(retainedFraction![n], `patch ${n}`).toBeLessThan(1);
      expect(
        Math.abs(contributions[n] - expected![n] * retainedFraction![n]),
        `patch ${n}`,
      ).toBeLessThan(1e-5);
    }
  });

  it('patch deficits are expected minus contribution', () => {
    const { aggregate } = retained;
    const deficit = patchDeficits(aggregate, retained.bag.patches.lungMl, PREDICTED);
    expect(deficit.definition).toBe(MODEL_DEFICIT_DEFINITION);
    for (let n = 0; n < aggregate.contributions.length; n++) {
      expect(deficit.expected![n], `patch ${n}`).toBe(aggregate.expected![n]);
      expect(deficit.deficits![n], `patch ${n}`).toBe(
        aggregate.expected![n] - aggregate.contributions[n],
      );
    }
    expect(deficit.totalMlMinMmHg).toBeCloseTo(sum(aggregate.expected!) - aggregate.estimate, 9);
  });

  it('deficits match the PyTorch outputs', () => {
    const { aggregate, expected } = retained;
    const deficit = patchDeficits(aggregate, retained.bag.patches.lungMl, PREDICTED);
    const outputs = expected.outputs;
    outputs.expected.forEach((value, n) => {
      const reference = value - outputs.contributions[n];
      expect(Math.abs(deficit.deficits![n] - reference), `patch ${n}`).toBeLessThan(TOLERANCE);
    });
    const referenceTotal = sum(outputs.expected) - outputs.dlco[0];
    expect(Math.abs(deficit.totalMlMinMmHg! - referenceTotal)).toBeLessThan(TOLERANCE);
  });

  it('zone deficits sum to the patch deficits', () => {
    const { aggregate, bag, model } = retained;
    const deficit = patchDeficits(aggregate, bag.patches.lungMl, PREDICTED);
    const regions = buildRegions(bag.patches, model.card.zones, valuesOf(aggregate, deficit));
    expect(regions.length).toBeGreaterThan(1);
    for (const region of regions) {
      const members = [...bag.patches.zone.keys()].filter(
        (n) => model.card.zones[String(bag.patches.zone[n])] === region.zone,
      );
      expect(members, region.zone).toHaveLength(region.patchCount);
      const patchSum = sum(members.map((n) => deficit.deficits![n]));
      expect(region.deficitMlMinMmHg, region.zone).toBeCloseTo(patchSum, 12);
      const expectedSum = sum(members.map((n) => deficit.expected![n]));
      expect(region.expectedMlMinMmHg, region.zone).toBeCloseTo(expectedSum, 12);
    }
    const zoneTotal = sum(regions.map((region) => region.deficitMlMinMmHg!));
    expect(zoneTotal).toBeCloseTo(sum(deficit.deficits!), 12);
    expect(Math.abs(zoneTotal - deficit.totalMlMinMmHg!)).toBeLessThan(1e-5);
  });

  it('patch results carry the model deficits', () => {
    const { aggregate, bag, model } = retained;
    const deficit = patchDeficits(aggregate, bag.patches.lungMl, PREDICTED);
    const patches = buildPatchResults(bag.patches, model.card.zones, valuesOf(aggregate, deficit));
    patches.forEach((patch, n) => {
      expect(patch.deficitMlMinMmHg, `patch ${n}`).toBe(deficit.deficits![n]);
    });
  });

  it('no deficits without a GLI value', () => {
    const deficit = patchDeficits(retained.aggregate, retained.bag.patches.lungMl, null);
    expect(deficit.expected).toBeNull();
    expect(deficit.deficits).toBeNull();
    expect(deficit.totalMlMinMmHg).toBeNull();
    expect(deficit.definition).toBe(MODEL_DEFICIT_DEFINITION);
  });
});

describe('patchDeficits without model expected', () => {
  it('splits the predicted value by lung volume', () => {
    const { aggregate, bag } = additive;
    expect(aggregate.expected).toBeNull();
    const deficit = patchDeficits(aggregate, bag.patches.lungMl, PREDICTED);
    expect(deficit.definition).toBe(DEFICIT_DEFINITION);
    const totalMl = sum(bag.patches.lungMl);
    for (let n = 0; n < bag.patches.count; n++) {
      const share = (PREDICTED * bag.patches.lungMl[n]) / totalMl;
      expect(deficit.expected![n], `patch ${n}`).toBeCloseTo(share, 12);
      expect(deficit.deficits![n], `patch ${n}`).toBeCloseTo(
        share - aggregate.contributions[n],
        12,
      );
    }
    expect(deficit.totalMlMinMmHg).toBe(PREDICTED - aggregate.estimate);
  });
});

function valuesOf(aggregate: AggregateResult, deficit: PatchDeficits) {
  return {
    contributions: aggregate.contributions,
    expected: deficit.expected,
    deficits: deficit.deficits,
    weights: aggregate.patchWeights,
  };
}
