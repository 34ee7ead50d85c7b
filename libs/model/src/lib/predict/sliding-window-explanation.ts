import { slidingWindowOcclusion, type EmbeddingBag } from '@dlco/explain';
import { PADDING_HU, type LabelVolume, type PatchArrays, type Volume } from '@dlco/preprocess';

import type { DlcoModel } from '../model.ts';
import { estimateFor, requireReferencePatch, type BagInputs } from './bag-replacement.ts';

/** Default maximum model evaluations of sliding-window occlusion. */
export const DEFAULT_MAX_SLIDING_WINDOW_EVALUATIONS = 4000;

export interface SlidingWindowContext {
  model: DlcoModel;
  patches: PatchArrays;
  inputs: BagInputs;
  embeddings: EmbeddingBag;
  /** HU on the working grid, the volume the patches were cut from. */
  working: Volume;
  labels: LabelVolume;
  maxEvaluations: number;
  batchSize?: number;
  signal?: AbortSignal;
}

/**
 * Runs sliding-window occlusion on the working grid: cubic windows of the patch size, stepped by
 * the patch size over windows that touch the lung, are filled with the reference patch's mean HU.
 * For each window the patches are cut again from the occluded volume, only the patches that
 * changed are re-encoded, and the bag is aggregated again.
 *
 * @returns the attribution per working-grid voxel in ml/min/mmHg per voxel (window difference
 *   divided evenly over its voxels), and a summary.
 */
export async function explainSlidingWindow(context: SlidingWindowContext) {
  const { model, patches, working, labels } = context;
  const reference = requireReferencePatch(model, 'Sliding-window occlusion');
  const baselineHu = Math.round(
    reference.reduce((sum, value) => sum + value, 0) / reference.length,
  );
  const size = patches.patchSizeVoxels;
  const estimate = estimateFor(model, context.inputs);
  let encodedPatches = 0;

  const predict = async (data: Int16Array): Promise<number> => {
    const changed = changedPatches(data, working.size, patches);
    if (changed.count === 0) return estimate(context.embeddings);
    encodedPatches += changed.count;
    const encoded = await model.encodePatches(changed, { batchSize: context.batchSize });
    const embeddings = context.embeddings.data.slice();
    const { dimension } = context.embeddings;
    changed.indices.forEach((n, row) => {
      embeddings.set(encoded.data.subarray(row * dimension, (row + 1) * dimension), n * dimension);
    });
    return estimate({ ...context.embeddings, data: embeddings });
  };

  const result = await slidingWindowOcclusion({ data: working.data, size: working.size }, predict, {
    windowVoxels: [size, size, size],
    strideVoxels: [size, size, size],
    baseline: baselineHu,
    mask: labels.data,
    maxEvaluations: context.maxEvaluations,
    spread: 'divide',
    signal: context.signal,
  });
  return {
    attribution: result.attribution,
    summary: {
      method:
        `sliding-window occlusion on the working grid: ${size}-voxel windows, stride ${size}, ` +
        `filled with ${baselineHu} HU (mean of the reference patch); difference divided over ` +
        'the window voxels',
      unit: 'ml/min/mmHg',
      baselineHu,
      windows: result.windows.length,
      evaluations: result.evaluations,
      encodedPatches,
      fullEstimate: result.referenceOutput,
    },
  };
}

/** Cuts every patch again from `data` and returns those whose HU differ from the bag's. */
function changedPatches(
  data: Int16Array,
  gridSize: [number, number, number],
  patches: PatchArrays,
) {
  const size = patches.patchSizeVoxels;
  const voxels = size ** 3;
  const cut = new Int16Array(voxels);
  const cutBytes = Buffer.from(cut.buffer);
  const bagBytes = Buffer.from(patches.hu.buffer, patches.hu.byteOffset, patches.hu.byteLength);
  const patchBytes = 2 * voxels;
  const indices: number[] = [];
  const hu: Int16Array[] = [];
  const mask: Uint8Array[] = [];
  for (let n = 0; n < patches.count; n++) {
    const corner = patches.cornerIjk.subarray(3 * n, 3 * n + 3);
    cutPatch(data, gridSize, corner, size, cut);
    if (cutBytes.equals(bagBytes.subarray(n * patchBytes, (n + 1) * patchBytes))) continue;
    indices.push(n);
    hu.push(cut.slice());
    mask.push(patches.mask.subarray(n * voxels, (n + 1) * voxels));
  }
  return {
    indices,
    count: indices.length,
    hu: concat(hu, Int16Array, voxels),
    mask: concat(mask, Uint8Array, voxels),
  };
}

/** Copies one patch from a volume, with `PADDING_HU` where it reaches past the grid. */
function cutPatch(
  data: Int16Array,
  [nx, ny, nz]: [number, number, number],
  [ci, cj, ck]: Int32Array,
  size: number,
  out: Int16Array,
): void {
  out.fill(PADDING_HU);
  for (let k = Math.max(0, ck); k < Math.min(nz, ck + size); k++) {
    for (let j = Math.max(0, cj); j < Math.min(ny, cj + size); j++) {
      const i0 = Math.max(0, ci);
      const i1 = Math.min(nx, ci + size);
      const source = i0 + nx * (j + ny * k);
      out.set(data.subarray(source, source + i1 - i0), i0 - ci + size * (j - cj + size * (k - ck)));
    }
  }
}

function concat<T extends Int16Array | Uint8Array>(
  parts: T[],
  Type: { new (length: number): T },
  partLength: number,
): T {
  const joined = new Type(parts.length * partLength);
  parts.forEach((part, n) => joined.set(part, n * partLength));
  return joined;
}
