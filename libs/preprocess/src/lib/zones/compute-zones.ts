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
  const z = voxelZ(labels);
  const data = new Uint8Array(labels.data.length);
  const boundaries = {
    right: [Number.NaN, Number.NaN],
    left: [Number.NaN, Number.NaN],
  } as Zones['thirdBoundariesMm'];
  for (const lung of [LUNG_LABELS.right, LUNG_LABELS.left]) {
    const cuts = thirdCuts(labels.data, z, lung);
    if (!cuts) continue;
    boundaries[lung === LUNG_LABELS.right ? 'right' : 'left'] = cuts;
    const core = coreMask(labels, lung, spacing, rindDepthMm);
    const labelData = labels.data;
    for (let n = 0; n < data.length; n++) {
      if (labelData[n] !== lung) continue;
      let third = 2;
      if (z[n] >= cuts[0]) third = 0;
      else if (z[n] >= cuts[1]) third = 1;
      data[n] = zoneCode(lung, third, core[n] === 1);
    }
  }
  const rind = new Uint8Array(data.length);
  for (let n = 0; n < data.length; n++) rind[n] = data[n] && data[n] % 2 === 1 ? 1 : 0;
  return {
    labels: { ...geometryOf(labels), data },
    zoneCodes: data,
    rind,
    names: ZONE_NAMES,
    thirdBoundariesMm: boundaries,
    rindDepthMm,
  };
}

/** Returns the LPS z (mm) of the centre of every lung voxel of `grid`, and 0 elsewhere. */
function voxelZ(grid: LabelVolume): Float64Array {
  const { matrix, offset } = indexToPhysical(grid);
  const [n0, n1, n2] = grid.size;
  const labelData = grid.data;
  const z = new Float64Array(n0 * n1 * n2);
  let n = 0;
  for (let k = 0; k < n2; k++) {
    for (let j = 0; j < n1; j++) {
      for (let i = 0; i < n0; i++, n++) {
        if (labelData[n] !== LUNG_LABELS.right && labelData[n] !== LUNG_LABELS.left) continue;
        z[n] = matrix[6] * i + matrix[7] * j + matrix[8] * k + offset[2];
      }
    }
  }
  return z;
}

/**
 * Returns the z values that cut a lung into thirds by voxel count: voxels with z at or above
 * `cuts[0]` are upper, at or above `cuts[1]` middle, the rest lower.
 */
function thirdCuts(data: Uint8Array, z: Float64Array, lung: number): [number, number] | undefined {
  let count = 0;
  for (let n = 0; n < data.length; n++) if (data[n] === lung) count++;
  if (count === 0) return undefined;
  const sorted = new Float64Array(count);
  for (let n = 0, m = 0; n < data.length; n++) if (data[n] === lung) sorted[m++] = z[n];
  sorted.sort().reverse();
  // Voxels sharing a slice share a z, so a cut lands on a slice boundary.
  const cut = (share: number) =>
    sorted[Math.min(sorted.length - 1, Math.floor(share * sorted.length))];
  return [cut(1 / 3), cut(2 / 3)];
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
