import { LUNG_LABELS, type LabelVolume } from '../volume.ts';
import { geometryOf, indexToPhysical } from '../geometry/grid-geometry.ts';
import { squaredDistanceToBackground } from '../segmentation/distance-transform.ts';
import {
  boundingBox,
  boxSize,
  cropToBox,
  forEachInBox,
  type Size3,
  type Spacing3,
} from '../segmentation/morphology.ts';
import { ZONE_NAMES, zoneCode } from './zone-codes.ts';

/** Options of `computeZones`. */
export interface ComputeZonesOptions {
  /** Depth of the peripheral rind, in mm (default 10, `DEFAULT_PREPROCESS_PARAMS.rindDepthMm`). */
  rindDepthMm?: number;
}

/** Lung zones on the grid of the lung labels. */
export interface Zones {
  /** Zone codes (see `zoneCode`), 0 outside the lungs. */
  labels: LabelVolume;
  /** Same array as `labels.data`. */
  zoneCodes: Uint8Array;
  /** 1 for lung voxels in the peripheral rind, 0 elsewhere. */
  rind: Uint8Array;
  /** Zone name by code. */
  names: Readonly<Record<number, string>>;
  /** LPS z of the upper/middle and middle/lower boundaries per lung, in mm. */
  thirdBoundariesMm: { right: [number, number]; left: [number, number] };
  rindDepthMm: number;
}

/**
 * Splits each lung into upper, middle and lower thirds by volume along the cranio-caudal (LPS z)
 * axis, and into a peripheral rind and a core.
 *
 * Thirds: voxels are ordered by the z of their centre and cut where a third of the lung's voxels
 * lie above, so each third contains a third of the volume, give or take one slice. Rind: voxels
 * whose centre lies within `rindDepthMm` of the centre of the nearest voxel outside that lung
 * (exact Euclidean distance transform), so a 10 mm rind on a 2 mm grid is five voxels deep. The
 * image edge is not a surface.
 *
 * @param labels Lung labels (`LUNG_LABELS`), any direction.
 * @param spacingMm Voxel spacing used for the distances, in mm: one number for an isotropic grid
 * (default: the labels' spacing).
 * @example
 * const zones = computeZones(segmentation.labels, undefined, { rindDepthMm: 10 });
 */
export function computeZones(
  labels: LabelVolume,
  spacingMm: number | Spacing3 = labels.spacingMm,
  options: ComputeZonesOptions = {},
): Zones {
  const spacing: Spacing3 =
    typeof spacingMm === 'number' ? [spacingMm, spacingMm, spacingMm] : spacingMm;
  const rindDepthMm = options.rindDepthMm ?? 10;
  if (!(rindDepthMm >= 0))
    throw new RangeError(`rindDepthMm must be 0 or more mm, received ${rindDepthMm}.`);
  const z = lungVoxelZ(labels);
  const labelData = labels.data;
  const data = new Uint8Array(labelData.length);
  const rind = new Uint8Array(labelData.length);
  const boundaries = {
    right: [Number.NaN, Number.NaN],
    left: [Number.NaN, Number.NaN],
  } as Zones['thirdBoundariesMm'];
  const lungs = [LUNG_LABELS.right, LUNG_LABELS.left];
  // Per label value: the two cuts and the core mask of that lung, when it has voxels.
  const cutsOf: ([number, number] | undefined)[] = [];
  const coreOf: (Uint8Array | undefined)[] = [];
  for (const lung of lungs) {
    const cuts = thirdCuts(labelData, z, lung);
    if (!cuts) continue;
    boundaries[lung === LUNG_LABELS.right ? 'right' : 'left'] = cuts;
    cutsOf[lung] = cuts;
    coreOf[lung] = coreMask(labels, lung, spacing, rindDepthMm);
  }
  const [n0, n1, n2] = labels.size;
  for (let k = 0, n = 0; k < n2; k++) {
    for (let j = 0; j < n1; j++) {
      for (let i = 0; i < n0; i++, n++) {
        const lung = labelData[n];
        const cuts = cutsOf[lung];
        if (lung !== LUNG_LABELS.right && lung !== LUNG_LABELS.left) continue;
        if (cuts === undefined) continue;
        const voxelZ = z.perSlice !== undefined ? z.perSlice[k] : z.perVoxel[n];
        let third = 2;
        if (voxelZ >= cuts[0]) third = 0;
        else if (voxelZ >= cuts[1]) third = 1;
        const isCore = coreOf[lung]![n] === 1;
        data[n] = zoneCode(lung, third, isCore);
        // Odd zone codes are the rind (see zoneCode).
        if (!isCore) rind[n] = 1;
      }
    }
  }
  return {
    labels: { ...geometryOf(labels), data },
    zoneCodes: data,
    rind,
    names: ZONE_NAMES,
    thirdBoundariesMm: boundaries,
    rindDepthMm,
  };
}

/**
 * LPS z (mm) of voxel centres: one value per slice when z depends on k alone (any grid whose
 * axes 0 and 1 lie in the axial plane, such as the working grid), otherwise one per lung voxel
 * (0 elsewhere). Both give the value `matrix[6] * i + matrix[7] * j + matrix[8] * k + offset[2]`.
 */
type VoxelZ =
  | { perSlice: Float64Array; perVoxel?: undefined }
  | { perSlice?: undefined; perVoxel: Float64Array };

function lungVoxelZ(grid: LabelVolume): VoxelZ {
  const { matrix, offset } = indexToPhysical(grid);
  const [n0, n1, n2] = grid.size;
  if (matrix[6] === 0 && matrix[7] === 0) {
    // With zero factors, i and j add a zero of the same sign as at i = j = 0, so the per-slice
    // value equals the per-voxel one bit for bit.
    const perSlice = new Float64Array(n2);
    for (let k = 0; k < n2; k++) {
      perSlice[k] = matrix[6] * 0 + matrix[7] * 0 + matrix[8] * k + offset[2];
    }
    return { perSlice };
  }
  const labelData = grid.data;
  const perVoxel = new Float64Array(n0 * n1 * n2);
  let n = 0;
  for (let k = 0; k < n2; k++) {
    for (let j = 0; j < n1; j++) {
      for (let i = 0; i < n0; i++, n++) {
        if (labelData[n] !== LUNG_LABELS.right && labelData[n] !== LUNG_LABELS.left) continue;
        perVoxel[n] = matrix[6] * i + matrix[7] * j + matrix[8] * k + offset[2];
      }
    }
  }
  return { perVoxel };
}

/**
 * Returns the z values that cut a lung into thirds by voxel count: voxels with z at or above
 * `cuts[0]` are upper, at or above `cuts[1]` middle, the rest lower.
 */
function thirdCuts(data: Uint8Array, z: VoxelZ, lung: number): [number, number] | undefined {
  const ranked =
    z.perSlice !== undefined
      ? sliceZByVoxel(data, z.perSlice, lung)
      : voxelZDescending(data, z.perVoxel, lung);
  if (ranked.count === 0) return undefined;
  // Voxels sharing a slice share a z, so a cut lands on a slice boundary.
  const cut = (share: number) =>
    ranked.at(Math.min(ranked.count - 1, Math.floor(share * ranked.count)));
  return [cut(1 / 3), cut(2 / 3)];
}

/** The z of a lung's voxels in descending order, as a count and a lookup by rank. */
interface RankedZ {
  count: number;
  at(rank: number): number;
}

function voxelZDescending(data: Uint8Array, z: Float64Array, lung: number): RankedZ {
  let count = 0;
  for (let n = 0; n < data.length; n++) if (data[n] === lung) count++;
  const sorted = new Float64Array(count);
  for (let n = 0, m = 0; n < data.length; n++) if (data[n] === lung) sorted[m++] = z[n];
  sorted.sort().reverse();
  return { count, at: (rank) => sorted[rank] };
}

/**
 * Ranks voxel z values from per-slice voxel counts instead of sorting every voxel: the voxel of
 * rank r lies in the slice where the running count, taken in descending z, passes r.
 */
function sliceZByVoxel(data: Uint8Array, sliceZ: Float64Array, lung: number): RankedZ {
  const slices = sliceZ.length;
  const plane = data.length / slices;
  const counts = new Float64Array(slices);
  let count = 0;
  for (let k = 0; k < slices; k++) {
    let inSlice = 0;
    const end = (k + 1) * plane;
    for (let n = k * plane; n < end; n++) if (data[n] === lung) inSlice++;
    counts[k] = inSlice;
    count += inSlice;
  }
  const order = Array.from({ length: slices }, (_, k) => k).sort((a, b) => sliceZ[b] - sliceZ[a]);
  return {
    count,
    at(rank) {
      let passed = 0;
      for (const k of order) {
        passed += counts[k];
        if (passed > rank) return sliceZ[k];
      }
      throw new RangeError(`rank ${rank} is not below the voxel count ${count}`);
    },
  };
}

/** Marks the voxels of `lung` deeper than `rindDepthMm` below its surface. */
function coreMask(
  labels: LabelVolume,
  lung: number,
  spacingMm: Spacing3,
  rindDepthMm: number,
): Uint8Array {
  const core = new Uint8Array(labels.data.length);
  const box = boundingBox(labels.data, labels.size, lung, 1);
  if (!box) return core;
  const local = cropToBox(labels.data, labels.size as Size3, box);
  for (let m = 0; m < local.length; m++) local[m] = local[m] === lung ? 1 : 0;
  const distance = squaredDistanceToBackground(local, boxSize(box), spacingMm);
  const limit = rindDepthMm * rindDepthMm + 1e-6;
  forEachInBox(labels.size, box, (m, n) => {
    if (local[m] && distance[m] > limit) core[n] = 1;
  });
  return core;
}
