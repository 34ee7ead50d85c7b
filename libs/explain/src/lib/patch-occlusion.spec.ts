import { describe, expect, it } from 'vitest';
import { ExplainRangeError, ExplainTypeError } from './errors.ts';
import {
  batchAggregator,
  embeddingSpacePatchOcclusion,
  imageSpacePatchOcclusion,
} from './patch-occlusion.ts';
import type { BagAggregator, EmbeddingBag } from './patch-occlusion-types.ts';

const DIMENSION = 3;
const HEAD = [0.5, -2, 1.25];
const BIAS = 80;

function makeBag(count: number): EmbeddingBag {
  const data = Float32Array.from({ length: count * DIMENSION }, (_, i) => Math.sin(i * 1.7) * 3);
  return { data, count, dimension: DIMENSION };
}

/** Mean pooling followed by a linear head: estimate = HEAD · mean(rows) + BIAS. */
async function meanPoolLinear(bag: EmbeddingBag): Promise<number> {
  let estimate = BIAS;
  for (let n = 0; n < bag.count; n++) {
    for (let d = 0; d < bag.dimension; d++) {
      estimate += (HEAD[d] * bag.data[n * bag.dimension + d]) / bag.count;
    }
  }
  return estimate;
}

/** Softmax attention pooling, non-linear in every row. */
async function attentionPool(bag: EmbeddingBag): Promise<number> {
  const scores = Array.from({ length: bag.count }, (_, n) => Math.exp(bag.data[n * DIMENSION]));
  const total = scores.reduce((sum, score) => sum + score, 0);
  let estimate = 0;
  for (let n = 0; n < bag.count; n++) {
    const row = bag.data.subarray(n * DIMENSION, (n + 1) * DIMENSION);
    estimate += (scores[n] / total) * (HEAD[0] * row[0] + HEAD[1] * row[1] + HEAD[2] * row[2]);
  }
  return estimate;
}

function recordingAggregator(aggregateOne: (bag: EmbeddingBag) => Promise<number>) {
  const batchSizes: number[] = [];
  const aggregate: BagAggregator = async (bags) => {
    batchSizes.push(bags.length);
    return batchAggregator(aggregateOne)(bags);
  };
  return { aggregate, batchSizes };
}

const REFERENCE = Float32Array.from([1, -1, 0.5]);

describe('embeddingSpacePatchOcclusion', () => {
  it('mean-pool linear model gives HEAD·(x − r)/N', async () => {
    const bag = makeBag(5);
    const result = await embeddingSpacePatchOcclusion(
      bag,
      REFERENCE,
      batchAggregator(meanPoolLinear),
    );
    for (let n = 0; n < 5; n++) {
      let expected = 0;
      for (let d = 0; d < DIMENSION; d++) {
        expected += (HEAD[d] * (bag.data[n * DIMENSION + d] - REFERENCE[d])) / 5;
      }
      expect(result.attribution[n], `patch ${n}`).toBeCloseTo(expected, 5);
    }
    expect(result.encoderCalls).toBe(0);
  });

  it('batches N + 1 bags into aggregator calls', async () => {
    const recorder = recordingAggregator(meanPoolLinear);
    const result = await embeddingSpacePatchOcclusion(makeBag(10), REFERENCE, recorder.aggregate, {
      batchSize: 4,
    });
    expect(recorder.batchSizes).toEqual([4, 4, 3]);
    expect(result.aggregatedBags).toBe(11);
    expect(result.aggregatorCalls).toBe(3);
  });

  it('batch size does not change the result', async () => {
    const bag = makeBag(7);
    const single = await embeddingSpacePatchOcclusion(bag, REFERENCE, batchAggregator(attentionPool), {
      batchSize: 1,
    });
    const many = await embeddingSpacePatchOcclusion(bag, REFERENCE, batchAggregator(attentionPool), {
      batchSize: 5,
    });
    expect(Array.from(many.attribution)).toEqual(Array.from(single.attribution));
    expect(many.fullEstimate).toBe(single.fullEstimate);
  });

  it('leaves the bag unchanged', async () => {
    const bag = makeBag(4);
    const before = Array.from(bag.data);
    await embeddingSpacePatchOcclusion(bag, REFERENCE, batchAggregator(attentionPool), {
      batchSize: 2,
    });
    expect(Array.from(bag.data)).toEqual(before);
  });

  it('aggregator sees exactly one replaced row', async () => {
    const bag = makeBag(3);
    const seen: number[][] = [];
    await embeddingSpacePatchOcclusion(
      bag,
      REFERENCE,
      batchAggregator(async (variant) => {
        seen.push(Array.from(variant.data));
        return 0;
      }),
      { batchSize: 2 },
    );
    const original = Array.from(bag.data);
    expect(seen[0]).toEqual(original);
    for (let n = 0; n < 3; n++) {
      const expected = [...original];
      expected.splice(n * DIMENSION, DIMENSION, ...REFERENCE);
      expect(seen[n + 1], `bag with patch ${n} replaced`).toEqual(expected);
    }
  });

  it('patch subset keeps the given order', async () => {
    const bag = makeBag(6);
    const all = await embeddingSpacePatchOcclusion(bag, REFERENCE, batchAggregator(attentionPool));
    const subset = await embeddingSpacePatchOcclusion(
      bag,
      REFERENCE,
      batchAggregator(attentionPool),
      { patchIndices: [4, 1] },
    );
    expect(subset.patchIndices).toEqual([4, 1]);
    expect(subset.attribution[0]).toBe(all.attribution[4]);
    expect(subset.attribution[1]).toBe(all.attribution[1]);
    expect(subset.aggregatedBags).toBe(3);
  });
});

describe('imageSpacePatchOcclusion', () => {
  it('shared replacement equals embedding space', async () => {
    const bag = makeBag(9);
    const aggregate = batchAggregator(attentionPool);
    const imageSpace = await imageSpacePatchOcclusion(
      bag,
      { mode: 'shared', encodeReplacement: async () => REFERENCE.slice() },
      aggregate,
      { batchSize: 4 },
    );
    const embeddingSpace = await embeddingSpacePatchOcclusion(bag, REFERENCE, aggregate);
    expect(Array.from(imageSpace.attribution)).toEqual(Array.from(embeddingSpace.attribution));
    expect(imageSpace.fullEstimate).toBe(embeddingSpace.fullEstimate);
    expect(imageSpace.encoderCalls).toBe(1);
  });

  it('per-patch replacement encodes once per patch', async () => {
    const bag = makeBag(5);
    const requested: number[] = [];
    const result = await imageSpacePatchOcclusion(
      bag,
      {
        mode: 'per-patch',
        encodeReplacement: async (patchIndex) => {
          requested.push(patchIndex);
          return REFERENCE.slice();
        },
      },
      batchAggregator(attentionPool),
      { batchSize: 2 },
    );
    const embeddingSpace = await embeddingSpacePatchOcclusion(
      bag,
      REFERENCE,
      batchAggregator(attentionPool),
    );
    expect(requested).toEqual([0, 1, 2, 3, 4]);
    expect(result.encoderCalls).toBe(5);
    expect(Array.from(result.attribution)).toEqual(Array.from(embeddingSpace.attribution));
  });

  it('per-patch replacement reaches its own patch', async () => {
    const bag = makeBag(4);
    const result = await imageSpacePatchOcclusion(
      bag,
      {
        mode: 'per-patch',
        encodeReplacement: async (patchIndex) => bag.data.slice(patchIndex * 3, patchIndex * 3 + 3),
      },
      batchAggregator(attentionPool),
    );
    // Replacing each patch by its own embedding changes nothing.
    expect(Array.from(result.attribution)).toEqual([0, 0, 0, 0]);
  });
});

describe('patch occlusion BAD CALL', () => {
  it('reference of wrong length raises TypeError', async () => {
    const call = embeddingSpacePatchOcclusion(
      makeBag(2),
      new Float32Array(4),
      batchAggregator(meanPoolLinear),
    );
    await expect(call).rejects.toBeInstanceOf(ExplainTypeError);
    await expect(call).rejects.toThrow(/referenceEmbedding must have 3 elements/);
  });

  it('encoder output of wrong length raises TypeError', async () => {
    const call = imageSpacePatchOcclusion(
      makeBag(2),
      { mode: 'per-patch', encodeReplacement: async () => new Float32Array(2) },
      batchAggregator(meanPoolLinear),
    );
    await expect(call).rejects.toBeInstanceOf(ExplainTypeError);
    await expect(call).rejects.toThrow(/encodeReplacement\(0\) must have 3 elements/);
  });

  it('short aggregator output raises TypeError', async () => {
    const call = embeddingSpacePatchOcclusion(makeBag(3), REFERENCE, async (bags) =>
      bags.slice(1).map(() => 1),
    );
    await expect(call).rejects.toBeInstanceOf(ExplainTypeError);
    await expect(call).rejects.toMatchObject({ code: 'EXPLAIN_MODEL_OUTPUT_INVALID' });
    await expect(call).rejects.toThrow(/array of 4 estimates, one per bag, received 3 values/);
  });

  it('duplicate patch index raises RangeError', async () => {
    const call = embeddingSpacePatchOcclusion(makeBag(3), REFERENCE, batchAggregator(meanPoolLinear), {
      patchIndices: [1, 1],
    });
    await expect(call).rejects.toBeInstanceOf(ExplainRangeError);
    await expect(call).rejects.toThrow(/options\.patchIndices\[1\] must be a distinct patch index/);
  });

  it('bag data length mismatch raises TypeError', async () => {
    const bag = { data: new Float32Array(5), count: 2, dimension: 3 };
    const call = embeddingSpacePatchOcclusion(bag, REFERENCE, batchAggregator(meanPoolLinear));
    await expect(call).rejects.toBeInstanceOf(ExplainTypeError);
    await expect(call).rejects.toThrow(/bag\.data must have 6 elements/);
  });
});
