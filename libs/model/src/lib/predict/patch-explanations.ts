import {
  deletionCurve,
  imageSpacePatchOcclusion,
  zoneShapley,
  type EmbeddingBag,
} from '@dlco/explain';
import type { PatchArrays } from '@dlco/preprocess';

import type { DlcoModel } from '../model.ts';
import {
  createBagAggregator,
  estimateFor,
  replaceRows,
  type BagInputs,
} from './bag-replacement.ts';
import { patchZoneNames, UNZONED } from './regions.ts';

/** Number of intervals of the deletion curve: 21 points from 0 to every patch replaced. */
export const DELETION_STEPS = 20;

/** Inputs the patch-level explanations share for one scan. */
export interface PatchExplanationContext {
  model: DlcoModel;
  patches: PatchArrays;
  inputs: BagInputs;
  embeddings: EmbeddingBag;
  /** Row n: patch n encoded with the reference patch's HU and its own lung mask. */
  replacements: EmbeddingBag;
  /** Card zone table, code to name. */
  zones: Record<string, string>;
  signal?: AbortSignal;
}

/**
 * Runs image-space patch occlusion: each patch in turn is replaced by the healthy reference
 * patch (its own lung mask kept, re-encoded) and the bag is aggregated again.
 *
 * @returns attribution n = estimate − estimate with patch n replaced, in ml/min/mmHg. With a
 *   healthy reference, a negative value means the patch lowers the estimate.
 */
export async function explainOcclusion(context: PatchExplanationContext) {
  const { model, inputs, embeddings, replacements } = context;
  const dimension = embeddings.dimension;
  const result = await imageSpacePatchOcclusion(
    embeddings,
    {
      mode: 'per-patch',
      // The replacements were encoded in batches up front; this hands out patch n's row.
      encodeReplacement: async (n) => replacements.data.slice(n * dimension, (n + 1) * dimension),
    },
    createBagAggregator(model, inputs),
    { signal: context.signal },
  );
  return {
    attribution: result.attribution,
    summary: {
      method:
        'image-space patch occlusion: patch HU replaced by the model card reference patch, ' +
        'lung mask kept; attribution = estimate - estimate with the patch replaced',
      unit: 'ml/min/mmHg',
      fullEstimate: result.fullEstimate,
      aggregatedBags: result.aggregatedBags,
      encodedPatches: result.encoderCalls,
      sumMlMinMmHg: result.attribution.reduce((sum, value) => sum + value, 0),
    },
  };
}

/**
 * Computes exact Shapley values over the lung zones that hold patches. The value of a coalition
 * is the estimate with the patches of every other zone replaced by their healthy reference
 * encodings, so the values sum to the estimate minus the all-healthy estimate. Patches outside
 * every zone are never replaced.
 */
export async function explainShapley(context: PatchExplanationContext) {
  const { model, inputs, embeddings, replacements, patches } = context;
  const names = patchZoneNames(patches.zone, context.zones);
  const players = [...new Set(names)].filter((name) => name !== UNZONED);
  const patchesOf = new Map(players.map((zone) => [zone, [] as number[]]));
  names.forEach((name, n) => patchesOf.get(name)?.push(n));
  const estimate = estimateFor(model, inputs);

  const result = await zoneShapley(
    players,
    async (kept) => {
      const replaced = players
        .filter((zone) => !kept.has(zone))
        .flatMap((zone) => patchesOf.get(zone)!);
      return estimate(replaceRows(embeddings, replacements, replaced));
    },
    { signal: context.signal },
  );
  return {
    byZone: result.byZone,
    summary: {
      method:
        'exact Shapley values over lung zones; a zone outside the coalition has its patches ' +
        'replaced by the reference patch (lung mask kept)',
      unit: 'ml/min/mmHg',
      zones: result.zones,
      values: Array.from(result.values),
      allHealthyEstimate: result.emptyValue,
      fullEstimate: result.fullValue,
      evaluations: result.evaluations,
    },
  };
}

/**
 * Computes the deletion curve of a patch ranking: patches are replaced by their healthy reference
 * encodings in `order`, and the estimate is recorded at `DELETION_STEPS + 1` fractions.
 *
 * @param order - patch indices, the patch that lowers the estimate most first
 */
export async function explainDeletion(
  context: PatchExplanationContext,
  order: number[],
  rankedBy: string,
) {
  const { model, inputs, embeddings, replacements } = context;
  const estimate = estimateFor(model, inputs);
  const result = await deletionCurve(
    order,
    (removed) => estimate(replaceRows(embeddings, replacements, removed)),
    { steps: DELETION_STEPS, signal: context.signal },
  );
  return {
    method:
      'deletion curve: patches replaced by the reference patch (lung mask kept) in ranking ' +
      'order; normalisedAuc near 0 means the ranking finds the patches that move the estimate',
    rankedBy,
    unit: 'ml/min/mmHg',
    points: result.points,
    auc: result.auc,
    normalisedAuc: Number.isFinite(result.normalisedAuc) ? result.normalisedAuc : null,
    intactEstimate: result.intactEstimate,
    replacedEstimate: result.removedEstimate,
    evaluations: result.evaluations,
  };
}

/** Orders patch indices by ascending value, ties by index. */
export function ascendingOrder(values: ArrayLike<number>): number[] {
  return Array.from({ length: values.length }, (_, n) => n).sort(
    (a, b) => values[a] - values[b] || a - b,
  );
}
