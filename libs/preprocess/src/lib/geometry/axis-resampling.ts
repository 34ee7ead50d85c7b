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
export function buildAxisKernel(
  inputSize: number,
  positions: Float64Array,
  ratio: number,
): AxisKernel {
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

/** Width of the unrolled filter window of `resampleFirstAxisHu`. */
const UNROLLED_TAPS = 8;

/**
 * Resamples axis 0 of an int16 HU image, reading padding as `PADDING_REPLACEMENT_HU`.
 *
 * Outputs whose taps are all padding are exactly the replacement value. The others take an
 * unrolled 8-tap sum over a window shifted inside the row and padded with zero weights, which
 * reads the int16 values directly where the window lies between the padding runs at the row
 * ends. Rows with padding elsewhere, and kernels wider than 8 taps, are first copied to a float
 * row with padding replaced. Every path adds the same products in the same order as a plain loop
 * over the taps, so the result does not depend on which path an output takes.
 */
export function resampleFirstAxisHu(
  source: Int16Array,
  rows: number,
  kernel: AxisKernel,
): Float32Array {
  const target = new Float32Array(kernel.outputSize * rows);
  const filter = new HuRowFilter(kernel);
  for (let row = 0; row < rows; row++) {
    filter.filterRow(source, row * kernel.inputSize, target, row * kernel.outputSize);
  }
  return target;
}

/**
 * Resamples axes 0 and 1 of an int16 HU volume of `slices` slices along axis 2, reading padding
 * as `PADDING_REPLACEMENT_HU`. The result equals `resampleMiddleAxis` applied to the output of
 * `resampleFirstAxisHu`. Each slice is filtered along axis 0 into a scratch slice that stays in
 * cache and then along axis 1, so the axis-0 result of the whole volume is never allocated.
 */
export function resampleFirstTwoAxesHu(
  source: Int16Array,
  slices: number,
  kernel0: AxisKernel,
  kernel1: AxisKernel,
): Float32Array {
  const target = new Float32Array(kernel0.outputSize * kernel1.outputSize * slices);
  new FirstTwoAxesFilter(kernel0, kernel1).filterSlices(source, target, 0, slices);
  return target;
}

/**
 * Filters whole slices along axes 0 and 1 like `resampleFirstTwoAxesHu`, for any range of
 * slices, so that slabs of one volume can be filtered in any order or on several threads with
 * the same result. Holds the scratch slice, so each thread needs its own instance.
 */
export class FirstTwoAxesFilter {
  private readonly kernel0: AxisKernel;
  private readonly kernel1: AxisKernel;
  private readonly rowFilter: HuRowFilter;
  private readonly unrolled1: UnrolledWindows | undefined;
  private readonly scratch: Float32Array;

  constructor(kernel0: AxisKernel, kernel1: AxisKernel) {
    this.kernel0 = kernel0;
    this.kernel1 = kernel1;
    this.rowFilter = new HuRowFilter(kernel0);
    this.unrolled1 = unrolledWindows(kernel1);
    this.scratch = new Float32Array(kernel0.outputSize * kernel1.inputSize);
  }

  /**
   * Writes the filtered slices `firstSlice` to `endSlice - 1` of `source` (int16 HU, slices of
   * `kernel0.inputSize * kernel1.inputSize` voxels) into the same slices of `target`. That part
   * of `target` must contain zeros.
   */
  filterSlices(
    source: Int16Array,
    target: Float32Array,
    firstSlice: number,
    endSlice: number,
  ): void {
    const { kernel0, kernel1, scratch } = this;
    const rowsPerSlice = kernel1.inputSize;
    const sliceIn = kernel0.inputSize * rowsPerSlice;
    const sliceOut = kernel0.outputSize * kernel1.outputSize;
    for (let slice = firstSlice; slice < endSlice; slice++) {
      for (let row = 0; row < rowsPerSlice; row++) {
        const inputBase = slice * sliceIn + row * kernel0.inputSize;
        this.rowFilter.filterRow(source, inputBase, scratch, row * kernel0.outputSize);
      }
      for (let t = 0; t < kernel1.outputSize; t++) {
        const targetBase = slice * sliceOut + t * kernel0.outputSize;
        const inner = kernel0.outputSize;
        filterMiddleAxisOutput(scratch, 0, inner, kernel1, this.unrolled1, t, target, targetBase);
      }
    }
  }
}

/** Filters single rows of int16 HU along one axis, reusing its scratch buffers. */
class HuRowFilter {
  private readonly kernel: AxisKernel;
  private readonly unrolled: UnrolledWindows | undefined;
  /** Whether the first and the end of the tap windows never decrease from one output to the next. */
  private readonly windowsAscend: boolean;
  /** The current row with padding replaced. */
  private readonly row: Float64Array;
  /** `paddingBefore[i]` is the number of padding voxels among the first `i` of the row. */
  private readonly paddingBefore: Int32Array;

  constructor(kernel: AxisKernel) {
    this.kernel = kernel;
    this.unrolled = unrolledWindows(kernel);
    this.windowsAscend = windowsAscend(kernel);
    this.row = new Float64Array(kernel.inputSize);
    this.paddingBefore = new Int32Array(kernel.inputSize + 1);
  }

  /** Filters the row starting at `source[inputBase]` into `target[outputBase...]`. */
  filterRow(source: Int16Array, inputBase: number, target: Float32Array, outputBase: number): void {
    const { inputSize, outputSize, start, count } = this.kernel;
    const unrolled = this.unrolled;

    // Padding usually forms runs at the row ends only. Rows with padding elsewhere, and kernels
    // that the fast path below does not cover, are copied with padding replaced.
    let leading = 0;
    while (leading < inputSize && source[inputBase + leading] < PADDING_THRESHOLD_HU) leading++;
    let trailing = 0;
    while (
      trailing < inputSize - leading &&
      source[inputBase + inputSize - 1 - trailing] < PADDING_THRESHOLD_HU
    )
      trailing++;
    const trailingStart = inputSize - trailing;
    let interiorMin = 0;
    for (let i = inputBase + leading; i < inputBase + trailingStart; i++) {
      if (source[i] < interiorMin) interiorMin = source[i];
    }
    if (
      leading === inputSize ||
      interiorMin < PADDING_THRESHOLD_HU ||
      !this.windowsAscend ||
      unrolled === undefined
    ) {
      this.copyRow(source, inputBase);
      this.filterRowWithPaddingAnywhere(source, inputBase, target, outputBase);
      return;
    }

    // An output whose taps all read padding is exactly the replacement value, because the
    // weights sum to 1. With ascending windows, those outputs form a prefix and a suffix.
    let first = 0;
    while (first < outputSize && (count[first] === 0 || start[first] + count[first] <= leading)) {
      if (count[first] === 0)
        sumReplacingPadding(source, inputBase, unrolled, first, target, outputBase);
      else target[outputBase + first] = PADDING_REPLACEMENT_HU;
      first++;
    }
    let end = outputSize;
    while (end > first && (count[end - 1] === 0 || start[end - 1] >= trailingStart)) {
      if (count[end - 1] === 0)
        sumReplacingPadding(source, inputBase, unrolled, end - 1, target, outputBase);
      else target[outputBase + end - 1] = PADDING_REPLACEMENT_HU;
      end--;
    }

    // Windows inside the padding-free span read the int16 values directly.
    const w = unrolled.weights;
    const windowStart = unrolled.start;
    for (let t = first; t < end; t++) {
      const i0 = windowStart[t];
      if (i0 < leading || i0 + UNROLLED_TAPS > trailingStart) {
        sumReplacingPadding(source, inputBase, unrolled, t, target, outputBase);
        continue;
      }
      const o = t * UNROLLED_TAPS;
      const s0 = inputBase + i0;
      target[outputBase + t] =
        w[o] * source[s0] +
        w[o + 1] * source[s0 + 1] +
        w[o + 2] * source[s0 + 2] +
        w[o + 3] * source[s0 + 3] +
        w[o + 4] * source[s0 + 4] +
        w[o + 5] * source[s0 + 5] +
        w[o + 6] * source[s0 + 6] +
        w[o + 7] * source[s0 + 7];
    }
  }

  /** Copies a row into `row` with padding replaced and returns its number of padding voxels. */
  private copyRow(source: Int16Array, inputBase: number): number {
    const row = this.row;
    let padding = 0;
    const threshold = PADDING_THRESHOLD_HU;
    const replacement = PADDING_REPLACEMENT_HU;
    for (let i = 0; i < row.length; i++) {
      const hu = source[inputBase + i];
      if (hu < threshold) {
        row[i] = replacement;
        padding++;
      } else {
        row[i] = hu;
      }
    }
    return padding;
  }

  /** Filters a row that has padding away from its ends, testing every output's taps. */
  private filterRowWithPaddingAnywhere(
    source: Int16Array,
    inputBase: number,
    target: Float32Array,
    outputBase: number,
  ): void {
    const { inputSize, outputSize, start, count } = this.kernel;
    const paddingBefore = this.paddingBefore;
    for (let i = 0; i < inputSize; i++) {
      const isPadding = source[inputBase + i] < PADDING_THRESHOLD_HU ? 1 : 0;
      paddingBefore[i + 1] = paddingBefore[i] + isPadding;
    }
    for (let t = 0; t < outputSize; t++) {
      const tapCount = count[t];
      if (
        tapCount > 0 &&
        paddingBefore[start[t] + tapCount] - paddingBefore[start[t]] === tapCount
      ) {
        target[outputBase + t] = PADDING_REPLACEMENT_HU;
      } else {
        this.sumWindows(t, t + 1, target, outputBase);
      }
    }
  }

  /**
   * Writes the weighted sums of outputs `first` to `end - 1` from `row`. The unrolled sum adds
   * the same products in the same order as the loop over the taps, because its extra taps have
   * zero weight.
   */
  private sumWindows(first: number, end: number, target: Float32Array, outputBase: number): void {
    const row = this.row;
    const unrolled = this.unrolled;
    if (unrolled !== undefined) {
      const w = unrolled.weights;
      const windowStart = unrolled.start;
      for (let t = first; t < end; t++) {
        const o = t * UNROLLED_TAPS;
        const i0 = windowStart[t];
        target[outputBase + t] =
          w[o] * row[i0] +
          w[o + 1] * row[i0 + 1] +
          w[o + 2] * row[i0 + 2] +
          w[o + 3] * row[i0 + 3] +
          w[o + 4] * row[i0 + 4] +
          w[o + 5] * row[i0 + 5] +
          w[o + 6] * row[i0 + 6] +
          w[o + 7] * row[i0 + 7];
      }
      return;
    }
    const { taps, start, count, weights } = this.kernel;
    for (let t = first; t < end; t++) {
      let sum = 0;
      const w0 = t * taps;
      for (let n = 0; n < count[t]; n++) sum += weights[w0 + n] * row[start[t] + n];
      target[outputBase + t] = sum;
    }
  }
}

/** Writes the unrolled sum of output `t`, reading padding as `PADDING_REPLACEMENT_HU`. */
function sumReplacingPadding(
  source: Int16Array,
  inputBase: number,
  unrolled: UnrolledWindows,
  t: number,
  target: Float32Array,
  outputBase: number,
): void {
  const w = unrolled.weights;
  const o = t * UNROLLED_TAPS;
  const s0 = inputBase + unrolled.start[t];
  let sum = 0;
  for (let n = 0; n < UNROLLED_TAPS; n++) {
    const hu = source[s0 + n];
    const value = hu < PADDING_THRESHOLD_HU ? PADDING_REPLACEMENT_HU : hu;
    sum = n === 0 ? w[o] * value : sum + w[o + n] * value;
  }
  target[outputBase + t] = sum;
}

/** Returns whether the first and the end of the non-empty tap windows never decrease with t. */
function windowsAscend(kernel: AxisKernel): boolean {
  let previousFirst = -1;
  let previousEnd = -1;
  for (let t = 0; t < kernel.outputSize; t++) {
    if (kernel.count[t] === 0) continue;
    const end = kernel.start[t] + kernel.count[t];
    if (kernel.start[t] < previousFirst || end < previousEnd) return false;
    previousFirst = kernel.start[t];
    previousEnd = end;
  }
  return true;
}

/** A kernel re-laid as windows of `UNROLLED_TAPS` inputs, padded with zero weights. */
export interface UnrolledWindows {
  start: Int32Array;
  weights: Float32Array;
}

/**
 * Re-lays a kernel as fixed windows of `UNROLLED_TAPS` inputs that stay inside the row, or
 * returns undefined when a kernel needs more taps or the row is shorter than a window.
 */
export function unrolledWindows(kernel: AxisKernel): UnrolledWindows | undefined {
  const { inputSize, outputSize, taps, start, count, weights } = kernel;
  if (inputSize < UNROLLED_TAPS || count.some((c) => c > UNROLLED_TAPS)) return undefined;
  const windowStart = new Int32Array(outputSize);
  const windowWeights = new Float32Array(outputSize * UNROLLED_TAPS);
  for (let t = 0; t < outputSize; t++) {
    const shifted = Math.min(start[t], inputSize - UNROLLED_TAPS);
    windowStart[t] = shifted;
    for (let n = 0; n < count[t]; n++) {
      windowWeights[t * UNROLLED_TAPS + start[t] - shifted + n] = weights[t * taps + n];
    }
  }
  return { start: windowStart, weights: windowWeights };
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
  const target = new Float32Array(inner * kernel.outputSize * outer);
  resampleMiddleAxisInto(source, inner, outer, kernel, target, 0);
  return target;
}

/**
 * Does the work of `resampleMiddleAxis`, writing into `target` from `targetOffset` on. That part
 * of `target` must contain zeros.
 */
function resampleMiddleAxisInto(
  source: Float32Array,
  inner: number,
  outer: number,
  kernel: AxisKernel,
  target: Float32Array,
  targetOffset: number,
): void {
  const { inputSize, outputSize } = kernel;
  const unrolled = unrolledWindows(kernel);
  for (let o = 0; o < outer; o++) {
    for (let t = 0; t < outputSize; t++) {
      const targetBase = targetOffset + (o * outputSize + t) * inner;
      const sourceOffset = o * inputSize * inner;
      filterMiddleAxisOutput(source, sourceOffset, inner, kernel, unrolled, t, target, targetBase);
    }
  }
}

/**
 * Writes output `t` of the middle axis, `inner` values, to `target[targetBase...]`, from the
 * block of `kernel.inputSize * inner` values at `source[sourceOffset]`. That part of `target`
 * must contain zeros. `unrolled` must be `unrolledWindows(kernel)`.
 *
 * Outputs of two taps are computed in float64 and rounded once. Outputs of more taps add one
 * tap after another, rounding the running sum to float32 after each tap as a float32 array
 * that is added into would. When every output fits in `UNROLLED_TAPS` taps, those sums are
 * formed in one pass over the output with `Math.fround` instead of one pass per tap, which gives
 * the same values because the extra taps have zero weight.
 */
export function filterMiddleAxisOutput(
  source: Float32Array,
  sourceOffset: number,
  inner: number,
  kernel: AxisKernel,
  unrolled: UnrolledWindows | undefined,
  t: number,
  target: Float32Array,
  targetBase: number,
): void {
  const { taps, start, count, weights } = kernel;
  if (count[t] === 2) {
    // Linear interpolation: one pass over the output instead of two.
    const w0 = weights[t * taps];
    const w1 = weights[t * taps + 1];
    const base0 = sourceOffset + start[t] * inner;
    const base1 = base0 + inner;
    for (let i = 0; i < inner; i++)
      target[targetBase + i] = w0 * source[base0 + i] + w1 * source[base1 + i];
    return;
  }
  if (unrolled !== undefined) {
    const sourceBase = sourceOffset + unrolled.start[t] * inner;
    const weightBase = t * UNROLLED_TAPS;
    sumUnrolledRows(source, sourceBase, inner, unrolled.weights, weightBase, target, targetBase);
    return;
  }
  for (let n = 0; n < count[t]; n++) {
    const w = weights[t * taps + n];
    const sourceBase = sourceOffset + (start[t] + n) * inner;
    for (let i = 0; i < inner; i++) target[targetBase + i] += w * source[sourceBase + i];
  }
}

/**
 * Writes `UNROLLED_TAPS` consecutive rows of `inner` values, weighted and added in order with a
 * float32 running sum, to `target[targetBase...]`.
 */
function sumUnrolledRows(
  source: Float32Array,
  sourceBase: number,
  inner: number,
  weights: Float32Array,
  weightBase: number,
  target: Float32Array,
  targetBase: number,
): void {
  const w0 = weights[weightBase];
  const w1 = weights[weightBase + 1];
  const w2 = weights[weightBase + 2];
  const w3 = weights[weightBase + 3];
  const w4 = weights[weightBase + 4];
  const w5 = weights[weightBase + 5];
  const w6 = weights[weightBase + 6];
  const w7 = weights[weightBase + 7];
  const b0 = sourceBase;
  const b1 = b0 + inner;
  const b2 = b1 + inner;
  const b3 = b2 + inner;
  const b4 = b3 + inner;
  const b5 = b4 + inner;
  const b6 = b5 + inner;
  const b7 = b6 + inner;
  const fround = Math.fround;
  for (let i = 0; i < inner; i++) {
    let sum = fround(0 + w0 * source[b0 + i]);
    sum = fround(sum + w1 * source[b1 + i]);
    sum = fround(sum + w2 * source[b2 + i]);
    sum = fround(sum + w3 * source[b3 + i]);
    sum = fround(sum + w4 * source[b4 + i]);
    sum = fround(sum + w5 * source[b5 + i]);
    sum = fround(sum + w6 * source[b6 + i]);
    target[targetBase + i] = sum + w7 * source[b7 + i];
  }
}

/** Resamples axis 0 (the fastest) of a float array made of `rows` rows. */
export function resampleFirstAxis(
  source: Float32Array,
  rows: number,
  kernel: AxisKernel,
): Float32Array {
  const { inputSize, outputSize, taps, start, count, weights } = kernel;
  const target = new Float32Array(outputSize * rows);
  for (let row = 0; row < rows; row++) {
    const inputBase = row * inputSize;
    const outputBase = row * outputSize;
    for (let t = 0; t < outputSize; t++) {
      const w0 = t * taps;
      const i0 = inputBase + start[t];
      let sum = 0;
      for (let n = 0; n < count[t]; n++) sum += weights[w0 + n] * source[i0 + n];
      target[outputBase + t] = sum;
    }
  }
  return target;
}
