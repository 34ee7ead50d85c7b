import {
  describeValue,
  requireInteger,
  requireLength,
  requireModelOutput,
} from './argument-checks.ts';
import { ExplainRangeError, ExplainTypeError } from './errors.ts';
import type {
  BagAggregator,
  EmbeddingBag,
  PatchOcclusionOptions,
  PatchOcclusionResult,
} from './patch-occlusion-types.ts';

const DEFAULT_BATCH_SIZE = 16;

/** Throws unless the bag's counts are positive integers and its data has N × D elements. */
export function requireBag(bag: EmbeddingBag): void {
  requireInteger('bag.count', bag.count, 1, 'Pass the number of patches N.');
  requireInteger('bag.dimension', bag.dimension, 1, 'Pass the embedding length D.');
  if (!(bag.data instanceof Float32Array)) {
    throw new ExplainTypeError(
      'EXPLAIN_INVALID_ARGUMENT',
      'bag.data',
      bag.data,
      `bag.data must be a Float32Array, received ${describeValue(bag.data)}.`,
    );
  }
  requireLength('bag.data', bag.data, bag.count * bag.dimension, 'count × dimension');
}

/** Throws unless `embedding` is a Float32Array of length `dimension`, and returns it. */
export function requireEmbedding(argument: string, embedding: unknown, dimension: number) {
  if (!(embedding instanceof Float32Array)) {
    throw new ExplainTypeError(
      'EXPLAIN_INVALID_ARGUMENT',
      argument,
      embedding,
      `${argument} must be a Float32Array, received ${describeValue(embedding)}.`,
    );
  }
  requireLength(argument, embedding, dimension, 'the bag embedding length D');
  return embedding;
}

/**
 * Aggregates the unreplaced bag and, for each selected patch, the bag with that patch's row
 * replaced, in batches. Each batch slot keeps a private copy of the bag and restores the
 * replaced row after aggregation, so a batch costs one row copy per bag after the first.
 */
export async function occludeRows(
  bag: EmbeddingBag,
  replacementFor: (patchIndex: number) => Promise<Float32Array>,
  aggregate: BagAggregator,
  options: PatchOcclusionOptions,
): Promise<Omit<PatchOcclusionResult, 'encoderCalls'>> {
  const batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE;
  requireInteger('options.batchSize', batchSize, 1, 'Pass 1 or more bags per call.');
  const patchIndices = resolvePatchIndices(options.patchIndices, bag.count);
  const dimension = bag.dimension;

  // Job 0 is the unreplaced bag, and job k replaces patch patchIndices[k - 1].
  const total = patchIndices.length + 1;
  const estimates = new Float64Array(total);
  const buffers: Float32Array[] = [];
  let aggregatorCalls = 0;

  for (let first = 0; first < total; first += batchSize) {
    const jobs = Array.from({ length: Math.min(batchSize, total - first) }, (_, s) => first + s);
    const bags: EmbeddingBag[] = [];
    for (const [slot, job] of jobs.entries()) {
      buffers[slot] ??= bag.data.slice();
      if (job > 0) {
        const patchIndex = patchIndices[job - 1];
        buffers[slot].set(await replacementFor(patchIndex), patchIndex * dimension);
      }
      bags.push({ data: buffers[slot], count: bag.count, dimension });
    }

    options.signal?.throwIfAborted();
    const outputs = await aggregate(bags);
    aggregatorCalls++;
    requireOutputCount(outputs, bags.length);
    for (const [slot, job] of jobs.entries()) {
      const label = job === 0 ? 'the unreplaced bag' : `patch ${patchIndices[job - 1]}`;
      estimates[job] = requireModelOutput(`aggregate output for ${label}`, outputs[slot]);
      if (job > 0) restoreRow(buffers[slot], bag.data, patchIndices[job - 1], dimension);
    }
    options.onProgress?.({ bags: first + jobs.length, total });
  }

  const fullEstimate = estimates[0];
  const occludedEstimates = estimates.slice(1);
  const attribution = occludedEstimates.map((estimate) => fullEstimate - estimate);
  return {
    patchIndices,
    attribution,
    fullEstimate,
    occludedEstimates,
    aggregatedBags: total,
    aggregatorCalls,
  };
}

function restoreRow(buffer: Float32Array, source: Float32Array, row: number, dimension: number) {
  buffer.set(source.subarray(row * dimension, (row + 1) * dimension), row * dimension);
}

function requireOutputCount(outputs: ArrayLike<number>, expected: number): void {
  if (outputs === null || typeof outputs !== 'object' || outputs.length !== expected) {
    throw new ExplainTypeError(
      'EXPLAIN_MODEL_OUTPUT_INVALID',
      'aggregate',
      outputs,
      `aggregate must resolve to an array of ${expected} estimates, one per bag, received ` +
        `${outputs?.length === undefined ? describeValue(outputs) : `${outputs.length} values`}.`,
    );
  }
}

/** Returns the selected patch indices, or every index when none are given. */
function resolvePatchIndices(selected: readonly number[] | undefined, count: number): number[] {
  if (selected === undefined) return Array.from({ length: count }, (_, n) => n);
  const seen = new Set<number>();
  return selected.map((patchIndex, position) => {
    const argument = `options.patchIndices[${position}]`;
    requireInteger(argument, patchIndex, 0, `Use patch indices in [0, ${count}).`);
    if (patchIndex >= count || seen.has(patchIndex)) {
      throw new ExplainRangeError(
        'EXPLAIN_OUT_OF_RANGE',
        argument,
        patchIndex,
        `${argument} must be a distinct patch index in [0, ${count}), received ${patchIndex}. ` +
          'Remove duplicates and indices past the last patch.',
      );
    }
    seen.add(patchIndex);
    return patchIndex;
  });
}
