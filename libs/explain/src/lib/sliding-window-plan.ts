import {
  describeValue,
  requireFinite,
  requireInteger,
  requireLength,
  requireVoxelTriple,
} from './argument-checks.ts';
import { ExplainRangeError, ExplainTypeError } from './errors.ts';
import type { OcclusionVolume, SlidingWindowOcclusionOptions } from './sliding-window-types.ts';
import {
  boxTouchesMask,
  createWindowGrid,
  windowBox,
  windowCount,
  type VoxelBox,
} from './window-grid.ts';

const WINDOW_FIX = 'Use a window of at least 1 voxel and at most the volume size along each axis.';
const STRIDE_FIX = 'Use a stride of at least 1 voxel. A stride equal to the window tiles the volume.';
const INT16_MIN = -32768;
const INT16_MAX = 32767;

/**
 * Validates a sliding-window request and returns the windows to evaluate, in x-fastest order.
 * Throws before any model call when an argument is invalid or the budget is too small.
 */
export function planWindows(
  volume: OcclusionVolume,
  options: SlidingWindowOcclusionOptions,
): { windows: VoxelBox[] } {
  const size = requireVoxelTriple('volume.size', volume.size, 1, 'Pass [nx, ny, nz] voxel counts.');
  requireVoxelData(volume, size);
  const window = requireVoxelTriple('options.windowVoxels', options.windowVoxels, 1, WINDOW_FIX);
  const stride = requireVoxelTriple('options.strideVoxels', options.strideVoxels, 1, STRIDE_FIX);
  requireWindowFits(window, size);
  requireBaseline(volume, options.baseline);
  if (options.mask !== undefined) {
    requireLength('options.mask', options.mask, volume.data.length, 'one per voxel');
  }
  if (options.spread !== undefined && options.spread !== 'repeat' && options.spread !== 'divide') {
    throw new ExplainTypeError(
      'EXPLAIN_INVALID_ARGUMENT',
      'options.spread',
      options.spread,
      `options.spread must be 'repeat' or 'divide', received ${describeValue(options.spread)}.`,
    );
  }

  const grid = createWindowGrid(size, window, stride);
  const windows: VoxelBox[] = [];
  for (let id = 0; id < windowCount(grid); id++) {
    const box = windowBox(grid, id);
    if (options.mask === undefined || boxTouchesMask(size, box, options.mask)) windows.push(box);
  }
  requireBudget(options.maxEvaluations, windows.length + 1);
  return { windows };
}

function requireVoxelData(volume: OcclusionVolume, size: readonly number[]): void {
  if (!(volume.data instanceof Float32Array) && !(volume.data instanceof Int16Array)) {
    throw new ExplainTypeError(
      'EXPLAIN_INVALID_ARGUMENT',
      'volume.data',
      volume.data,
      `volume.data must be a Float32Array or an Int16Array, received ${describeValue(volume.data)}.`,
    );
  }
  requireLength('volume.data', volume.data, size[0] * size[1] * size[2], 'nx · ny · nz voxels');
}

function requireWindowFits(window: readonly number[], size: readonly number[]): void {
  for (let axis = 0; axis < 3; axis++) {
    if (window[axis] > size[axis]) {
      throw new ExplainRangeError(
        'EXPLAIN_OUT_OF_RANGE',
        'options.windowVoxels',
        window,
        `options.windowVoxels ${describeValue(window)} is larger than the volume ` +
          `${describeValue(size)} along axis ${'xyz'[axis]}. ${WINDOW_FIX}`,
      );
    }
  }
}

function requireBaseline(volume: OcclusionVolume, baseline: unknown): void {
  requireFinite('options.baseline', baseline);
  const value = baseline as number;
  const fitsInt16 = Number.isInteger(value) && value >= INT16_MIN && value <= INT16_MAX;
  if (volume.data instanceof Int16Array && !fitsInt16) {
    throw new ExplainRangeError(
      'EXPLAIN_OUT_OF_RANGE',
      'options.baseline',
      value,
      `options.baseline must be an integer in [${INT16_MIN}, ${INT16_MAX}] for an Int16Array ` +
        `volume, received ${value}. Round it, or pass the volume as a Float32Array.`,
    );
  }
}

function requireBudget(maxEvaluations: number | undefined, planned: number): void {
  if (maxEvaluations === undefined) return;
  requireInteger('options.maxEvaluations', maxEvaluations, 1, 'Pass a positive integer.');
  if (planned > maxEvaluations) {
    throw new ExplainRangeError(
      'EXPLAIN_EVALUATION_BUDGET_EXCEEDED',
      'options.maxEvaluations',
      maxEvaluations,
      `Sliding-window occlusion needs ${planned} model evaluations (windows + 1), more than ` +
        `options.maxEvaluations = ${maxEvaluations}. Increase the stride or the window, pass a ` +
        'mask, or raise the limit.',
    );
  }
}
