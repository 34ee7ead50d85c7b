/** Per-patch embeddings of one scan. Row n is `data[n * dimension, (n + 1) * dimension)`. */
export interface EmbeddingBag {
  data: Float32Array;
  /** Number of patches N. */
  count: number;
  /** Embedding length D. */
  dimension: number;
}

/**
 * Bag-level aggregator of a multiple-instance model, batched: returns one estimate per bag, in
 * order, for example DLCO in ml/min/mmHg. The bags' buffers are reused for later batches, so the
 * aggregator must not modify them or read them after its promise settles.
 */
export type BagAggregator = (bags: readonly EmbeddingBag[]) => Promise<ArrayLike<number>>;

/**
 * Source of the replacement embedding for image-space occlusion.
 *
 * `shared`: one reference patch (for example a healthy-lung patch) is encoded once and replaces
 * every patch. `per-patch`: the reference depends on the occluded patch, for example when the
 * healthy texture is pasted inside that patch's lung mask, so it is encoded once per patch.
 */
export type ReplacementEncoding =
  | { mode: 'shared'; encodeReplacement: () => Promise<Float32Array> }
  | { mode: 'per-patch'; encodeReplacement: (patchIndex: number) => Promise<Float32Array> };

export interface PatchOcclusionOptions {
  /** Bags per aggregator call (default 16). Each bag in a batch is an N × D copy in memory. */
  batchSize?: number;
  /** Patches to occlude, each in [0, N) and distinct (default: every patch in order). */
  patchIndices?: readonly number[];
  /** Called after every aggregator call. */
  onProgress?: (progress: { bags: number; total: number }) => void;
  /** Stops before the next encoder or aggregator call with the signal's reason. */
  signal?: AbortSignal;
}

export interface PatchOcclusionResult {
  /** Occluded patches, aligned with `attribution` and `occludedEstimates`. */
  patchIndices: number[];
  /**
   * Estimate with every patch minus the estimate with that patch replaced, in the aggregator's
   * unit. With a healthy reference, a negative value means the patch lowers the estimate.
   */
  attribution: Float64Array;
  /** Estimate with every patch, unreplaced. */
  fullEstimate: number;
  /** Estimate with each patch replaced. */
  occludedEstimates: Float64Array;
  /** Bags aggregated: one unreplaced bag plus one per occluded patch. */
  aggregatedBags: number;
  /** Calls of the batched aggregator. */
  aggregatorCalls: number;
  /** Calls of `encodeReplacement`: 0 in embedding space, 1 shared, one per patch otherwise. */
  encoderCalls: number;
}
