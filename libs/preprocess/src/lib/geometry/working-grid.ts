import { PADDING_HU, type Volume } from '../volume.ts';
import { AXIS_ALIGNED_TOLERANCE, toCanonicalLps, type CanonicalTransform } from './canonical.ts';
import {
  geometryOf,
  IDENTITY_DIRECTION,
  indexToIndex,
  physicalBounds,
  type GridGeometry,
} from './grid-geometry.ts';
import {
  buildAxisKernel,
  resampleFirstAxisHu,
  resampleMiddleAxis,
  type AxisKernel,
} from './axis-resampling.ts';
import { sampleTrilinear } from './trilinear.ts';

/** A scan resampled to the isotropic, axis-aligned (identity direction, LPS) working grid. */
export interface WorkingGrid {
  /** HU rounded to int16, with `PADDING_HU` where `fovMask` is 0. */
  volume: Volume;
  /** 1 where at least half of a voxel's filter weight came from inside the field of view. */
  fovMask: Uint8Array;
  /** Geometry of the scan as given, to map working-grid results back to it. */
  source: GridGeometry;
  /** Axis reordering applied before resampling. */
  canonicalTransform: CanonicalTransform;
}

/**
 * Resamples a CT volume to an isotropic grid with identity direction covering the volume's
 * voxel centres.
 *
 * The volume is first reordered with `toCanonicalLps`. Along each canonical axis a separable
 * pass then samples the output positions with a Gaussian anti-aliasing kernel where the axis is
 * downsampled and with linear interpolation elsewhere (see `buildAxisKernel`). An axis-aligned
 * scan is sampled at the output voxels directly, so the passes are the whole trilinear
 * interpolation. An oblique scan is filtered onto an intermediate grid at the working spacing
 * along its own axes and then sampled trilinearly at the output voxels. Padding is replaced by
 * -1000 HU before filtering, and a field-of-view weight is filtered alongside to build `fovMask`.
 *
 * @param spacingMm Isotropic output spacing in mm, usually `DEFAULT_PREPROCESS_PARAMS.workingSpacingMm`.
 * @example
 * const grid = resampleToWorkingGrid(scan, DEFAULT_PREPROCESS_PARAMS.workingSpacingMm);
 */
export function resampleToWorkingGrid(volume: Volume, spacingMm: number): WorkingGrid {
  if (!(spacingMm > 0) || !Number.isFinite(spacingMm)) {
    throw new RangeError(`spacingMm must be a positive number of mm, received ${spacingMm}.`);
  }
  const source = geometryOf(volume);
  const { volume: canonical, transform } = toCanonicalLps(volume);
  const output = workingGeometry(canonical, spacingMm);
  const axisAligned = Array.from(canonical.direction).every(
    (value, n) => Math.abs(value - IDENTITY_DIRECTION[n]) < AXIS_ALIGNED_TOLERANCE,
  );

  const kernels = axisAligned
    ? kernelsToGrid(canonical, output)
    : kernelsToIntermediate(canonical, spacingMm);
  const filtered = filterSeparable(canonical, kernels);

  let value = filtered.value;
  let fov = filtered.fov;
  if (!axisAligned) {
    const intermediate: GridGeometry = {
      ...geometryOf(canonical),
      size: kernels.map((k) => k.outputSize) as [number, number, number],
      spacingMm: kernels.map((k, a) =>
        k.outputSize === k.inputSize ? canonical.spacingMm[a] : spacingMm,
      ) as [number, number, number],
    };
    const toIntermediate = indexToIndex(output, intermediate);
    value = sampleTrilinear(filtered.value, intermediate.size, output.size, toIntermediate, 0);
    fov = sampleTrilinear(filtered.fov, intermediate.size, output.size, toIntermediate, 0);
  }
  return { ...toWorkingVolume(output, value, fov), source, canonicalTransform: transform };
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

function kernelsToIntermediate(canonical: Volume, spacingMm: number): AxisKernel[] {
  return [0, 1, 2].map((a) => {
    const n = canonical.size[a];
    const ratio = spacingMm / canonical.spacingMm[a];
    const step = ratio > 1 ? ratio : 1;
    const positions = new Float64Array(Math.floor((n - 1) / step + 1e-6) + 1);
    for (let t = 0; t < positions.length; t++) positions[t] = t * step;
    return buildAxisKernel(n, positions, ratio);
  });
}

function filterSeparable(volume: Volume, kernels: AxisKernel[]): { value: Float32Array; fov: Float32Array } {
  const [n0, n1] = kernels.map((k) => k.outputSize);
  const first = resampleFirstAxisHu(volume.data, volume.size[1] * volume.size[2], kernels[0]);
  const value1 = resampleMiddleAxis(first.value, n0, volume.size[2], kernels[1]);
  const value = resampleMiddleAxis(value1, n0 * n1, 1, kernels[2]);
  if (!first.hasPadding) return { value, fov: separableFieldOfView(kernels) };
  const fov1 = resampleMiddleAxis(first.fov, n0, volume.size[2], kernels[1]);
  return { value, fov: resampleMiddleAxis(fov1, n0 * n1, 1, kernels[2]) };
}

/** Field-of-view weight of a scan without padding: 1 wherever every axis had taps. */
function separableFieldOfView(kernels: AxisKernel[]): Float32Array {
  const [c0, c1, c2] = kernels.map((k) => k.count);
  const fov = new Float32Array(c0.length * c1.length * c2.length);
  let n = 0;
  for (let k = 0; k < c2.length; k++) {
    for (let j = 0; j < c1.length; j++) {
      const rowInside = c2[k] > 0 && c1[j] > 0;
      for (let i = 0; i < c0.length; i++, n++) fov[n] = rowInside && c0[i] > 0 ? 1 : 0;
    }
  }
  return fov;
}

function toWorkingVolume(
  geometry: GridGeometry,
  value: Float32Array,
  fov: Float32Array,
): { volume: Volume; fovMask: Uint8Array } {
  const data = new Int16Array(value.length);
  const fovMask = new Uint8Array(value.length);
  for (let n = 0; n < value.length; n++) {
    if (fov[n] >= 0.5) {
      fovMask[n] = 1;
      data[n] = Math.max(-32767, Math.min(32767, Math.round(value[n])));
    } else {
      data[n] = PADDING_HU;
    }
  }
  return { volume: { ...geometry, data }, fovMask };
}
