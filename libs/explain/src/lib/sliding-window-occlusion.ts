import { requireModelOutput } from './argument-checks.ts';
import { runPool } from './run-pool.ts';
import { planWindows } from './sliding-window-plan.ts';
import type {
  OcclusionVolume,
  SlidingWindowOcclusionOptions,
  SlidingWindowOcclusionResult,
  VolumePredictor,
  VoxelData,
  WindowSpread,
} from './sliding-window-types.ts';
import { boxVoxelCount, forEachVoxel, type VoxelBox } from './window-grid.ts';

/**
 * Computes a sliding-window occlusion attribution map for any model that maps a volume to one
 * number.
 *
 * Each window position is filled with `baseline`, and its attribution is the model output for
 * the original volume minus the output for the occluded one. A positive value means the window
 * raised the output. With `spread: 'repeat'` (the default) every voxel of the window receives
 * that difference, and each voxel's final value is the mean over the windows that contain it,
 * as in Captum's `Occlusion` (captum.attr API documentation). With `spread: 'divide'` the
 * difference is shared evenly over the window's voxels before averaging.
 *
 * Windows start at 0 and step by the stride until one reaches the last voxel. That last window
 * is truncated at the volume edge, so edge voxels may be covered by smaller windows. When the
 * stride exceeds the window, voxels between windows are never occluded and keep attribution 0.
 * Occlusion measures the model's sensitivity to removing a region, not a causal effect.
 * Memory use is one volume copy per in-flight model call plus 12 bytes per voxel for the
 * double-precision sums and the coverage counts.
 *
 * @param volume - The input volume. It is never modified.
 * @param predict - The model, called once for the original volume and once per window.
 * @param options - Window, stride, baseline and optional mask, budget and progress.
 * @returns The attribution map in the model's output unit, the coverage and the call count.
 * @throws ExplainTypeError or ExplainRangeError naming the invalid argument.
 * @example
 * ```ts
 * const { attribution } = await slidingWindowOcclusion({ data: hu, size: [96, 96, 64] }, runModel, {
 *   windowVoxels: [16, 16, 16],
 *   strideVoxels: [8, 8, 8],
 *   baseline: -1000,
 * });
 * ```
 */
export async function slidingWindowOcclusion<T extends VoxelData>(
  volume: OcclusionVolume<T>,
  predict: VolumePredictor<T>,
  options: SlidingWindowOcclusionOptions,
): Promise<SlidingWindowOcclusionResult> {
  const plan = planWindows(volume, options);
  const total = plan.windows.length + 1;
  const concurrency = options.concurrency ?? 1;
  let evaluations = 0;

  const evaluate = async (data: T, context: string): Promise<number> => {
    options.signal?.throwIfAborted();
    const output = requireModelOutput(context, await predict(data));
    evaluations++;
    options.onProgress?.({ evaluations, total });
    return output;
  };

  // Each in-flight evaluation borrows a private copy of the volume and restores it afterwards.
  const freeBuffers: T[] = [volume.data.slice() as T];
  const referenceOutput = await evaluate(freeBuffers[0], 'predict for the unoccluded volume');
  const windowDifferences = new Float64Array(plan.windows.length);

  await runPool(plan.windows.length, concurrency, async (n) => {
    const buffer = freeBuffers.pop() ?? (volume.data.slice() as T);
    const box = plan.windows[n];
    forEachVoxel(volume.size, box, (index) => (buffer[index] = options.baseline));
    const output = await evaluate(buffer, `predict for window ${n}`);
    forEachVoxel(volume.size, box, (index) => (buffer[index] = volume.data[index]));
    freeBuffers.push(buffer);
    windowDifferences[n] = referenceOutput - output;
  });

  const { attribution, coverage } = spreadDifferences(
    volume.size,
    plan.windows,
    windowDifferences,
    options.spread ?? 'repeat',
  );
  return {
    attribution,
    coverage,
    evaluations,
    referenceOutput,
    windows: plan.windows,
    windowDifferences,
  };
}

/**
 * Averages per-window differences into a voxel map, in window order so the result does not
 * depend on the order in which concurrent evaluations finished.
 */
function spreadDifferences(
  size: readonly [number, number, number],
  windows: readonly VoxelBox[],
  differences: Float64Array,
  spread: WindowSpread,
): { attribution: Float32Array; coverage: Uint32Array } {
  const voxelCount = size[0] * size[1] * size[2];
  const sums = new Float64Array(voxelCount);
  const coverage = new Uint32Array(voxelCount);
  windows.forEach((box, n) => {
    const share = spread === 'divide' ? differences[n] / boxVoxelCount(box) : differences[n];
    forEachVoxel(size, box, (index) => {
      sums[index] += share;
      coverage[index]++;
    });
  });

  const attribution = new Float32Array(voxelCount);
  for (let index = 0; index < voxelCount; index++) {
    if (coverage[index] > 0) attribution[index] = sums[index] / coverage[index];
  }
  return { attribution, coverage };
}
