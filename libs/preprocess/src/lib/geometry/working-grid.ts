import { PADDING_HU, PADDING_THRESHOLD_HU, type Volume } from '../volume.ts';
import { isIdentityDirection, toCanonicalLps, type CanonicalTransform } from './canonical.ts';
import {
  geometryOf,
  IDENTITY_DIRECTION,
  indexToIndex,
  physicalBounds,
  type GridGeometry,
} from './grid-geometry.ts';
import {
  buildAxisKernel,
  resampleFirstTwoAxesHu,
  resampleMiddleAxis,
  type AxisKernel,
} from './axis-resampling.ts';
import { resampleAxisAligned, type AxisAlignedPlan } from './axis-aligned-resampling.ts';
import { sampleTrilinear } from './trilinear.ts';

/** A scan resampled to the isotropic, axis-aligned (identity direction, LPS) working grid. */
export interface WorkingGrid {
  /** HU rounded to int16, with `PADDING_HU` where `fovMask` is 0. */
  volume: Volume;
  /** 1 where the input voxel nearest to the voxel centre exists and is not padding. */
  fovMask: Uint8Array;
  /** Geometry of the scan as given, to map working-grid results back to it. */
  source: GridGeometry;
  /** Axis reordering applied before resampling. */
  canonicalTransform: CanonicalTransform;
}

/**
 * Resamples a CT volume to an isotropic grid with identity direction covering the volume's voxel
 * centres.
 *
 * The volume is first reordered with `toCanonicalLps`. Along each canonical axis a separable pass
 * then samples the output positions with a Gaussian anti-aliasing kernel where the axis is
 * downsampled and with linear interpolation elsewhere (see `buildAxisKernel`). An axis-aligned scan
 * is sampled at the output voxels directly, so the passes are the whole trilinear interpolation. An
 * oblique scan is filtered onto an intermediate grid at about the working spacing along its own
 * axes and then sampled trilinearly at the output voxels. Padding is replaced by -1000 HU before
 * filtering, and `fovMask` comes from the nearest input voxel.
 *
 * @param spacingMm Isotropic output spacing in mm, usually
 * `DEFAULT_PREPROCESS_PARAMS.workingSpacingMm`.
 * @example
 * const grid = resampleToWorkingGrid(scan, DEFAULT_PREPROCESS_PARAMS.workingSpacingMm);
 */
export function resampleToWorkingGrid(volume: Volume, spacingMm: number): WorkingGrid {
  const setup = prepareWorkingGrid(volume, spacingMm);
  if (setup.plan !== undefined) {
    resampleAxisAligned(setup.plan);
    return workingGridFromPlan(setup, setup.plan);
  }
  return resampleOblique(setup, spacingMm);
}

/** The steps of `resampleToWorkingGrid` before any voxel is filtered. */
export interface WorkingGridSetup {
  /** Geometry of the scan as given. */
  source: GridGeometry;
  canonical: Volume;
  transform: CanonicalTransform;
  output: GridGeometry;
  /** The slab-wise resampling of an axis-aligned scan, undefined for an oblique one. */
  plan: AxisAlignedPlan | undefined;
}

/**
 * Reorders the volume to canonical LPS and, for an axis-aligned scan, builds the resampling
 * plan, with its arrays from `allocate` (which must return zero-filled arrays).
 */
export function prepareWorkingGrid(
  volume: Volume,
  spacingMm: number,
  allocate: ArrayAllocator = ORDINARY_ARRAYS,
): WorkingGridSetup {
  if (!(spacingMm > 0) || !Number.isFinite(spacingMm)) {
    throw new RangeError(`spacingMm must be a positive number of mm, received ${spacingMm}.`);
  }
  const source = geometryOf(volume);
  const { volume: canonical, transform } = toCanonicalLps(volume);
  const output = workingGeometry(canonical, spacingMm);
  if (!isIdentityDirection(canonical.direction)) {
    return { source, canonical, transform, output, plan: undefined };
  }
  const kernels = kernelsToGrid(canonical, output) as [AxisKernel, AxisKernel, AxisKernel];
  const [m0, m1, m2] = output.size;
  const plan: AxisAlignedPlan = {
    source: canonical.data,
    inputSize: canonical.size,
    outputSize: output.size,
    kernels,
    nearestOffsets: nearestInputOffsets(canonical, output),
    alongXY: allocate.float32(m0 * m1 * canonical.size[2]),
    data: allocate.int16(m0 * m1 * m2),
    fovMask: allocate.uint8(m0 * m1 * m2),
  };
  return { source, canonical, transform, output, plan };
}

/** Creates the zero-filled arrays of an `AxisAlignedPlan`. */
export interface ArrayAllocator {
  float32(length: number): Float32Array;
  int16(length: number): Int16Array;
  uint8(length: number): Uint8Array;
}

const ORDINARY_ARRAYS: ArrayAllocator = {
  float32: (length) => new Float32Array(length),
  int16: (length) => new Int16Array(length),
  uint8: (length) => new Uint8Array(length),
};

/** Returns the working grid whose voxels `plan` has filled. */
export function workingGridFromPlan(setup: WorkingGridSetup, plan: AxisAlignedPlan): WorkingGrid {
  return {
    volume: { ...setup.output, data: plan.data },
    fovMask: plan.fovMask,
    source: setup.source,
    canonicalTransform: setup.transform,
  };
}

/**
 * Filters an oblique scan onto an intermediate grid along its own axes and samples that
 * trilinearly at the output voxels.
 */
function resampleOblique(setup: WorkingGridSetup, spacingMm: number): WorkingGrid {
  const { canonical, output } = setup;
  const intermediate = kernelsToIntermediate(canonical, spacingMm);
  const kernels = intermediate.kernels;
  const grid: GridGeometry = {
    ...geometryOf(canonical),
    size: kernels.map((k) => k.outputSize) as [number, number, number],
    spacingMm: intermediate.spacing as [number, number, number],
  };
  const filtered = filterSeparable(canonical, kernels);
  const value = sampleTrilinear(filtered, grid.size, output.size, indexToIndex(output, grid), 0);
  const fovMask = obliqueFieldOfView(canonical, output);
  return {
    ...toWorkingVolume(output, value, fovMask),
    source: setup.source,
    canonicalTransform: setup.transform,
  };
}

/** Returns the identity-direction grid at `spacingMm` centred on the voxel centres of `grid`. */
export function workingGeometry(grid: GridGeometry, spacingMm: number): GridGeometry {
  const { min, max } = physicalBounds(grid);
  const size = [0, 1, 2].map((a) => Math.floor((max[a] - min[a]) / spacingMm + 1e-6) + 1);
  const originMm = [0, 1, 2].map((a) => min[a] + (max[a] - min[a] - (size[a] - 1) * spacingMm) / 2);
  return {
    size: size as [number, number, number],
    spacingMm: [spacingMm, spacingMm, spacingMm],
    originMm: originMm as [number, number, number],
    direction: Float64Array.from(IDENTITY_DIRECTION),
  };
}

function kernelsToGrid(canonical: Volume, output: GridGeometry): AxisKernel[] {
  // The canonical direction is the identity here, so each output axis maps to one input axis.
  const map = indexToIndex(output, canonical);
  return [0, 1, 2].map((a) => {
    const positions = new Float64Array(output.size[a]);
    for (let t = 0; t < positions.length; t++) positions[t] = map.matrix[4 * a] * t + map.offset[a];
    const ratio = output.spacingMm[a] / canonical.spacingMm[a];
    return buildAxisKernel(canonical.size[a], positions, ratio);
  });
}

/**
 * Returns kernels onto an intermediate grid along the canonical axes, with the working spacing
 * (shrunk so that the first and last samples fall on the first and last input voxels) where an
 * axis is downsampled, and the input spacing elsewhere. Returns the intermediate spacing too.
 */
function kernelsToIntermediate(
  canonical: Volume,
  spacingMm: number,
): { kernels: AxisKernel[]; spacing: number[] } {
  const spacing: number[] = [];
  const kernels = [0, 1, 2].map((a) => {
    const n = canonical.size[a];
    const ratio = spacingMm / canonical.spacingMm[a];
    const samples = ratio > 1 ? Math.ceil((n - 1) / ratio - 1e-6) + 1 : n;
    const step = samples > 1 ? (n - 1) / (samples - 1) : 1;
    spacing.push(step * canonical.spacingMm[a]);
    const positions = new Float64Array(samples);
    for (let t = 0; t < samples; t++) positions[t] = t * step;
    return buildAxisKernel(n, positions, ratio);
  });
  return { kernels, spacing };
}

function filterSeparable(volume: Volume, kernels: AxisKernel[]): Float32Array {
  const [n0, n1] = kernels.map((k) => k.outputSize);
  const alongXY = resampleFirstTwoAxesHu(volume.data, volume.size[2], kernels[0], kernels[1]);
  return resampleMiddleAxis(alongXY, n0 * n1, 1, kernels[2]);
}

/**
 * Returns, per output axis of an axis-aligned scan, the flat-index contribution of the nearest
 * input voxel, or -1 where it lies outside the input. Nearest neighbour keeps the field-of-view
 * mask sharp and costs a lookup per voxel instead of two more filter passes.
 */
function nearestInputOffsets(
  canonical: Volume,
  output: GridGeometry,
): [Int32Array, Int32Array, Int32Array] {
  const [n0, n1] = canonical.size;
  const map = indexToIndex(output, canonical);
  const strides = [1, n0, n0 * n1];
  const offsetsAlong = (a: number) => {
    const offsets = new Int32Array(output.size[a]);
    for (let t = 0; t < offsets.length; t++) {
      const position = map.matrix[4 * a] * t + map.offset[a] + 0.5;
      offsets[t] =
        position >= 0 && position < canonical.size[a] ? Math.floor(position) * strides[a] : -1;
    }
    return offsets;
  };
  return [offsetsAlong(0), offsetsAlong(1), offsetsAlong(2)];
}

/** Marks output voxels of an oblique scan whose nearest input voxel is inside and not padding. */
function obliqueFieldOfView(canonical: Volume, output: GridGeometry): Uint8Array {
  const [n0, n1, n2] = canonical.size;
  const mask = new Uint8Array(output.size[0] * output.size[1] * output.size[2]);
  const map = indexToIndex(output, canonical);
  const m = map.matrix;
  const data = canonical.data;
  let n = 0;
  for (let k = 0; k < output.size[2]; k++) {
    for (let j = 0; j < output.size[1]; j++) {
      let x = m[1] * j + m[2] * k + map.offset[0] + 0.5;
      let y = m[4] * j + m[5] * k + map.offset[1] + 0.5;
      let z = m[7] * j + m[8] * k + map.offset[2] + 0.5;
      for (let i = 0; i < output.size[0]; i++, n++, x += m[0], y += m[3], z += m[6]) {
        if (x < 0 || y < 0 || z < 0 || x >= n0 || y >= n1 || z >= n2) continue;
        if (data[(x | 0) + n0 * (y | 0) + n0 * n1 * (z | 0)] >= PADDING_THRESHOLD_HU) mask[n] = 1;
      }
    }
  }
  return mask;
}

function toWorkingVolume(
  geometry: GridGeometry,
  value: Float32Array,
  fovMask: Uint8Array,
): { volume: Volume; fovMask: Uint8Array } {
  const data = new Int16Array(value.length);
  for (let n = 0; n < value.length; n++) {
    data[n] = fovMask[n] ? Math.max(-32767, Math.min(32767, Math.round(value[n]))) : PADDING_HU;
  }
  return { volume: { ...geometry, data }, fovMask };
}
