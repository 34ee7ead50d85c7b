import { PADDING_HU, PADDING_THRESHOLD_HU } from '../volume.ts';
import {
  filterMiddleAxisOutput,
  FirstTwoAxesFilter,
  unrolledWindows,
  type AxisKernel,
  type UnrolledWindows,
} from './axis-resampling.ts';

/**
 * Everything needed to resample an axis-aligned, canonically ordered int16 HU volume onto the
 * working grid in two passes that split into independent slabs of slices:
 *
 * 1. `filterInputSlices`: axes 0 and 1 of each input slice into `alongXY`.
 * 2. `finishOutputSlices`: axis 2 of each output slice from `alongXY`, then the field-of-view
 *    mask from the nearest input voxel and the HU rounded to int16.
 *
 * The plan contains only typed arrays and numbers, so it can be posted to a worker thread. Its
 * arrays may be backed by `SharedArrayBuffer`s, which the threads then fill together.
 */
export interface AxisAlignedPlan {
  /** Canonical input HU, `inputSize[0] * inputSize[1] * inputSize[2]` voxels. */
  source: Int16Array;
  inputSize: [number, number, number];
  outputSize: [number, number, number];
  /** Kernels of axes 0, 1 and 2, from input to output indices. */
  kernels: [AxisKernel, AxisKernel, AxisKernel];
  /**
   * Per output axis, the flat-index contribution (index times stride) of the nearest input voxel
   * along that axis, or -1 where the nearest voxel lies outside the input.
   */
  nearestOffsets: [Int32Array, Int32Array, Int32Array];
  /** Result of pass 1: `outputSize[0] * outputSize[1] * inputSize[2]` values. */
  alongXY: Float32Array;
  /** HU on the working grid, rounded to int16, `PADDING_HU` outside the field of view. */
  data: Int16Array;
  /** 1 where the nearest input voxel exists and is not padding. */
  fovMask: Uint8Array;
}

/** Filters input slices `first` to `end - 1` along axes 0 and 1 into `plan.alongXY`. */
export class InputSliceFilter {
  private readonly plan: AxisAlignedPlan;
  private readonly filter: FirstTwoAxesFilter;

  constructor(plan: AxisAlignedPlan) {
    this.plan = plan;
    this.filter = new FirstTwoAxesFilter(plan.kernels[0], plan.kernels[1]);
  }

  filterSlices(first: number, end: number): void {
    this.filter.filterSlices(this.plan.source, this.plan.alongXY, first, end);
  }
}

/**
 * Writes output slices `first` to `end - 1` of `plan.data` and `plan.fovMask` from
 * `plan.alongXY`. Each output slice goes through a float32 scratch plane, so the values are
 * rounded to float32 before they are rounded to int16, as a float32 volume would round them.
 */
export class OutputSliceFinisher {
  private readonly plan: AxisAlignedPlan;
  private readonly unrolled: UnrolledWindows | undefined;
  private readonly plane: Float32Array;

  constructor(plan: AxisAlignedPlan) {
    this.plan = plan;
    this.unrolled = unrolledWindows(plan.kernels[2]);
    this.plane = new Float32Array(plan.outputSize[0] * plan.outputSize[1]);
  }

  finishSlices(first: number, end: number): void {
    const { alongXY, kernels, outputSize } = this.plan;
    const plane = this.plane;
    const inner = plane.length;
    const kernel = kernels[2];
    for (let k = first; k < end; k++) {
      // Only the tap-by-tap path of filterMiddleAxisOutput adds into its target.
      if (kernel.count[k] !== 2 && this.unrolled === undefined) plane.fill(0);
      filterMiddleAxisOutput(alongXY, 0, inner, kernel, this.unrolled, k, plane, 0);
      this.roundSlice(k, outputSize);
    }
  }

  /** Writes the field-of-view mask and the rounded HU of output slice `k`. */
  private roundSlice(k: number, outputSize: [number, number, number]): void {
    const { source, data, fovMask, nearestOffsets } = this.plan;
    const [x, y, z] = nearestOffsets;
    const plane = this.plane;
    const base = k * plane.length;
    const rowLength = outputSize[0];
    for (let j = 0; j < outputSize[1]; j++) {
      const rowStart = base + j * rowLength;
      if (z[k] < 0 || y[j] < 0) {
        data.fill(PADDING_HU, rowStart, rowStart + rowLength);
        fovMask.fill(0, rowStart, rowStart + rowLength);
        continue;
      }
      const inputRow = z[k] + y[j];
      for (let i = 0; i < rowLength; i++) {
        const n = rowStart + i;
        if (x[i] >= 0 && source[inputRow + x[i]] >= PADDING_THRESHOLD_HU) {
          fovMask[n] = 1;
          const value = plane[j * rowLength + i];
          data[n] = Math.max(-32767, Math.min(32767, Math.round(value)));
        } else {
          fovMask[n] = 0;
          data[n] = PADDING_HU;
        }
      }
    }
  }
}

/** Runs both passes of `plan` over all slices on the calling thread. */
export function resampleAxisAligned(plan: AxisAlignedPlan): void {
  new InputSliceFilter(plan).filterSlices(0, plan.inputSize[2]);
  new OutputSliceFinisher(plan).finishSlices(0, plan.outputSize[2]);
}
