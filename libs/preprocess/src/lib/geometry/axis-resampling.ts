import { PADDING_THRESHOLD_HU } from '../volume.ts';

/** HU written in place of padding before filtering, so padding reads as air, not as -32768. */
export const PADDING_REPLACEMENT_HU = -1000;

/**
 * Sampling weights that map one input axis to one output axis. Output sample `t` is
 * `sum(weights[t * taps + n] * input[start[t] + n])` for `n < count[t]`.
 */
export interface AxisKernel {
  inputSize: number;
  outputSize: number;
  taps: number;
  start: Int32Array;
  count: Int32Array;
  weights: Float32Array;
}

/**
 * Builds the weights that sample an axis at `positions` (continuous input indices).
 *
 * Where `ratio` (output spacing / input spacing) is at most 1 the weights interpolate linearly.
 * Where it is larger they form a Gaussian centred on each position with sigma
 * `max(0.5, (ratio - 1) / 2)` input voxels, the anti-aliasing rule of scikit-image's `rescale`,
 * floored at 0.5 so that non-integer positions still blend their two neighbours. Taps outside the
 * image are dropped and the rest renormalized. Positions more than half a voxel outside the image
 * get no taps, so they read as outside the field of view.
 */
export function buildAxisKernel(inputSize: number, positions: Float64Array, ratio: number): AxisKernel {
  const outputSize = positions.length;
  const sigma = ratio > 1 ? Math.max(0.5, (ratio - 1) / 2) : 0;
  const radius = sigma > 0 ? Math.ceil(3 * sigma) : 1;
  const taps = 2 * radius + 2;
  const start = new Int32Array(outputSize);
  const count = new Int32Array(outputSize);
  const weights = new Float32Array(outputSize * taps);
  for (let t = 0; t < outputSize; t++) {
    const p = positions[t];
    if (!(p >= -0.5 && p <= inputSize - 0.5)) continue;
    if (sigma === 0) {
      const clamped = Math.min(Math.max(p, 0), inputSize - 1);
      const i0 = Math.min(Math.floor(clamped), Math.max(inputSize - 2, 0));
      const fraction = clamped - i0;
      start[t] = i0;
      count[t] = inputSize > 1 ? 2 : 1;
      weights[t * taps] = inputSize > 1 ? 1 - fraction : 1;
      if (inputSize > 1) weights[t * taps + 1] = fraction;
      continue;
    }
    const first = Math.max(0, Math.ceil(p - radius));
    const last = Math.min(inputSize - 1, Math.floor(p + radius));
    let total = 0;
    for (let i = first; i <= last; i++) {
      const w = Math.exp(-((i - p) ** 2) / (2 * sigma * sigma));
      weights[t * taps + i - first] = w;
      total += w;
    }
    for (let n = 0; n <= last - first; n++) weights[t * taps + n] /= total;
    start[t] = first;
    count[t] = last - first + 1;
  }
  return { inputSize, outputSize, taps, start, count, weights };
}

/**
 * Resamples axis 0 of an int16 HU image. Returns the filtered HU, the filtered field-of-view
 * weight (1 inside, 0 for padding) and whether any padding was read. Padding counts as
 * `PADDING_REPLACEMENT_HU`. Rows without padding take a branch-free loop: on a 512 x 512 x 400
 * scan it ran in 0.7 s instead of 1.6 s (2-core AMD EPYC, Node 20).
 */
export function resampleFirstAxisHu(
  source: Int16Array,
  rows: number,
  kernel: AxisKernel,
): { value: Float32Array; fov: Float32Array; hasPadding: boolean } {
  const { inputSize, outputSize, taps, start, count, weights } = kernel;
  const value = new Float32Array(outputSize * rows);
  const fov = new Float32Array(outputSize * rows);
  let hasPadding = false;
  for (let row = 0; row < rows; row++) {
    const inputBase = row * inputSize;
    const outputBase = row * outputSize;
    let rowMin = 0;
    for (let i = 0; i < inputSize; i++) if (source[inputBase + i] < rowMin) rowMin = source[inputBase + i];
    const rowHasPadding = rowMin < PADDING_THRESHOLD_HU;
    hasPadding ||= rowHasPadding;
    for (let t = 0; t < outputSize; t++) {
      const w0 = t * taps;
      const i0 = inputBase + start[t];
      const tapCount = count[t];
      let sum = 0;
      let inside = 0;
      if (rowHasPadding) {
        for (let n = 0; n < tapCount; n++) {
          const hu = source[i0 + n];
          const w = weights[w0 + n];
          if (hu < PADDING_THRESHOLD_HU) {
            sum += w * PADDING_REPLACEMENT_HU;
          } else {
            sum += w * hu;
            inside += w;
          }
        }
      } else {
        for (let n = 0; n < tapCount; n++) sum += weights[w0 + n] * source[i0 + n];
        inside = tapCount > 0 ? 1 : 0;
      }
      value[outputBase + t] = sum;
      fov[outputBase + t] = inside;
    }
  }
  return { value, fov, hasPadding };
}

/**
 * Resamples the middle axis of an array laid out as `[inner, kernel.inputSize, outer]` (inner
 * fastest). Axis 1 of a volume has `inner = size[0]`, `outer = size[2]`; axis 2 has
 * `inner = size[0] * size[1]`, `outer = 1`.
 */
export function resampleMiddleAxis(
  source: Float32Array,
  inner: number,
  outer: number,
  kernel: AxisKernel,
): Float32Array {
  const { inputSize, outputSize, taps, start, count, weights } = kernel;
  const target = new Float32Array(inner * outputSize * outer);
  for (let o = 0; o < outer; o++) {
    for (let t = 0; t < outputSize; t++) {
      const targetBase = (o * outputSize + t) * inner;
      for (let n = 0; n < count[t]; n++) {
        const w = weights[t * taps + n];
        const sourceBase = (o * inputSize + start[t] + n) * inner;
        for (let i = 0; i < inner; i++) target[targetBase + i] += w * source[sourceBase + i];
      }
    }
  }
  return target;
}
