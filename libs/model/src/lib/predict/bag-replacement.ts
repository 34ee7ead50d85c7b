import type { BagAggregator, EmbeddingBag } from '@dlco/explain';
import type { PatchArrays } from '@dlco/preprocess';

import { ModelError } from '../errors.ts';
import type { AggregateInput, DlcoModel } from '../model.ts';

/** Per-patch aggregator inputs other than the embeddings, fixed for one scan. */
export type BagInputs = Omit<AggregateInput, 'embeddings'>;

/** Returns the aggregator inputs of a scan's patches with its raw metadata vector. */
export function bagInputs(patches: PatchArrays, metadata: Float32Array): BagInputs {
  return { lungMl: patches.lungMl, zone: patches.zone, side: patches.side, metadata };
}

/** Returns the model's DLCO estimate for one bag of embeddings, in ml/min/mmHg. */
export function estimateFor(model: DlcoModel, inputs: BagInputs) {
  return async (embeddings: EmbeddingBag): Promise<number> =>
    (await model.aggregate({ ...inputs, embeddings })).estimate;
}

/** Wraps the model's one-bag aggregator as the batched aggregator `@dlco/explain` calls. */
export function createBagAggregator(model: DlcoModel, inputs: BagInputs): BagAggregator {
  const estimate = estimateFor(model, inputs);
  return async (bags) => {
    const estimates: number[] = [];
    for (const bag of bags) estimates.push(await estimate(bag));
    return estimates;
  };
}

/** Returns the model's healthy reference patch, or throws naming the missing card entry. */
export function requireReferencePatch(model: DlcoModel, explanation: string): Int16Array {
  if (model.referencePatchHu === null) {
    throw new ModelError(
      'MODEL_CARD_INVALID',
      `${explanation} needs the model's healthy reference patch, but the card of ${model.dir} ` +
        'names none (referencePatch). Leave it out of --explain or export a model with one.',
      { explanation },
    );
  }
  return model.referencePatchHu;
}

/**
 * Encodes every patch with its HU replaced by the model's healthy reference patch and its lung
 * mask kept, as the model card prescribes for occlusion. Row n replaces patch n.
 */
export async function encodeReferenceReplacements(
  model: DlcoModel,
  patches: PatchArrays,
  options: { batchSize?: number; signal?: AbortSignal } = {},
): Promise<EmbeddingBag> {
  const reference = requireReferencePatch(model, 'Occlusion');
  const hu = new Int16Array(patches.count * reference.length);
  for (let n = 0; n < patches.count; n++) hu.set(reference, n * reference.length);
  return model.encodePatches({ count: patches.count, hu, mask: patches.mask }, options);
}

/**
 * Encodes the reference patch once with an all-lung mask. Replacing a patch by this embedding is
 * the embedding-space shortcut of occlusion. It equals image-space occlusion exactly for patches
 * whose voxels are all lung with data, and only approximately for patches cut by the lung border.
 */
export async function encodeReferenceEmbedding(model: DlcoModel): Promise<Float32Array> {
  const reference = requireReferencePatch(model, 'Occlusion');
  const mask = new Uint8Array(reference.length).fill(1);
  const { data } = await model.encodePatches({ count: 1, hu: reference, mask });
  return data;
}

/** Returns a copy of `bag` whose rows in `replaced` come from `replacements`. */
export function replaceRows(
  bag: EmbeddingBag,
  replacements: EmbeddingBag,
  replaced: Iterable<number>,
): EmbeddingBag {
  const data = bag.data.slice();
  const { dimension } = bag;
  for (const n of replaced) {
    data.set(replacements.data.subarray(n * dimension, (n + 1) * dimension), n * dimension);
  }
  return { data, count: bag.count, dimension };
}
