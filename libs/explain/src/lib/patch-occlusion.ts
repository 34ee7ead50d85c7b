import { describeValue } from './argument-checks.ts';
import { occludeRows, requireBag, requireEmbedding } from './bag-row-occlusion.ts';
import { ExplainTypeError } from './errors.ts';
import type {
  BagAggregator,
  EmbeddingBag,
  PatchOcclusionOptions,
  PatchOcclusionResult,
  ReplacementEncoding,
} from './patch-occlusion-types.ts';

/**
 * Computes image-space patch occlusion for a bag model: each patch's embedding is replaced by
 * the encoder's embedding of a reference patch, and the bag is aggregated again.
 *
 * Attribution n is the estimate with all patches minus the estimate with patch n replaced. The
 * N + 1 aggregations run in batches of `batchSize` bags. The reference is encoded once in
 * `shared` mode and once per occluded patch in `per-patch` mode.
 *
 * @param bag - Per-patch embeddings of the scan, N × D. Never modified.
 * @param replacement - How the reference patch is encoded.
 * @param aggregate - Batched aggregator returning one estimate per bag, e.g. in ml/min/mmHg.
 * @param options - Batch size, patch subset, progress and cancellation.
 * @returns Per-patch attributions in the aggregator's unit and call counts.
 * @throws ExplainTypeError or ExplainRangeError naming the invalid argument or output.
 * @example
 * ```ts
 * const result = await imageSpacePatchOcclusion(
 *   bag,
 *   { mode: 'per-patch', encodeReplacement: (n) => encodeHealthyInsideMask(n) },
 *   (bags) => session.aggregate(bags),
 * );
 * ```
 */
export async function imageSpacePatchOcclusion(
  bag: EmbeddingBag,
  replacement: ReplacementEncoding,
  aggregate: BagAggregator,
  options: PatchOcclusionOptions = {},
): Promise<PatchOcclusionResult> {
  requireBag(bag);
  let encoderCalls = 0;
  const encode = async (patchIndex: number | undefined): Promise<Float32Array> => {
    options.signal?.throwIfAborted();
    encoderCalls++;
    const embedding =
      replacement.mode === 'shared'
        ? await replacement.encodeReplacement()
        : await replacement.encodeReplacement(patchIndex as number);
    return requireEmbedding(`encodeReplacement(${patchIndex ?? ''})`, embedding, bag.dimension);
  };

  let replacementFor: (patchIndex: number) => Promise<Float32Array>;
  if (replacement.mode === 'shared') {
    // Encoded on first use, so an empty patch subset makes no encoder call.
    let shared: Promise<Float32Array> | undefined;
    replacementFor = () => (shared ??= encode(undefined));
  } else if (replacement.mode === 'per-patch') {
    replacementFor = (patchIndex) => encode(patchIndex);
  } else {
    throw new ExplainTypeError(
      'EXPLAIN_INVALID_ARGUMENT',
      'replacement.mode',
      (replacement as { mode: unknown }).mode,
      `replacement.mode must be 'shared' or 'per-patch', received ` +
        `${describeValue((replacement as { mode: unknown }).mode)}.`,
    );
  }

  const result = await occludeRows(bag, replacementFor, aggregate, options);
  return { ...result, encoderCalls };
}

/**
 * Computes embedding-space patch occlusion: each patch's embedding is replaced by a given
 * reference embedding without running the encoder, and the bag is aggregated again.
 *
 * This is the cheap counterpart of `imageSpacePatchOcclusion`, and both give the same result
 * when the reference embedding equals the encoded reference patch.
 *
 * @param bag - Per-patch embeddings of the scan, N × D. Never modified.
 * @param referenceEmbedding - Replacement embedding of length D.
 * @param aggregate - Batched aggregator returning one estimate per bag, e.g. in ml/min/mmHg.
 * @param options - Batch size, patch subset, progress and cancellation.
 * @returns Per-patch attributions in the aggregator's unit and call counts.
 * @throws ExplainTypeError or ExplainRangeError naming the invalid argument or output.
 * @example
 * ```ts
 * const { attribution } = await embeddingSpacePatchOcclusion(bag, healthyMean, aggregateBags);
 * ```
 */
export async function embeddingSpacePatchOcclusion(
  bag: EmbeddingBag,
  referenceEmbedding: Float32Array,
  aggregate: BagAggregator,
  options: PatchOcclusionOptions = {},
): Promise<PatchOcclusionResult> {
  requireBag(bag);
  const reference = requireEmbedding('referenceEmbedding', referenceEmbedding, bag.dimension);
  const result = await occludeRows(bag, async () => reference, aggregate, options);
  return { ...result, encoderCalls: 0 };
}

/**
 * Wraps a one-bag aggregator as a `BagAggregator` that aggregates the bags of a batch one after
 * another.
 */
export function batchAggregator(
  aggregateOne: (bag: EmbeddingBag) => Promise<number>,
): BagAggregator {
  return async (bags) => {
    const estimates: number[] = [];
    for (const bag of bags) estimates.push(await aggregateOne(bag));
    return estimates;
  };
}
