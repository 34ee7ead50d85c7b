import type { PatchArrays } from '../bag/patch-bag-types.ts';
import { applyAffine, indexToPhysical, type GridGeometry } from '../geometry/grid-geometry.ts';
import type { PreprocessParams } from '../params.ts';
import { LUNG_LABELS, PADDING_HU, type LabelVolume, type Volume } from '../volume.ts';
import { labelBoundingBox, patchStarts } from './patch-grid.ts';

/** Per-voxel zone maps on the working grid, as `extractPatches` needs them. */
export interface PatchZoneMaps {
  /** Zone code of each voxel (0 outside the lungs). */
  zoneCodes: Uint8Array;
  /** 1 where a lung voxel lies in the peripheral rind, 0 elsewhere. */
  rind: Uint8Array;
}

/** Patches of one scan with the share of lung volume they leave out. */
export interface ExtractedPatches extends PatchArrays {
  /** Share (0 to 1) of the lung voxels that lie in no kept patch. */
  droppedLungFraction: number;
  /** Lung volume on the working grid, in mL. */
  lungVolumeMl: number;
}

type PatchParams = Pick<
  PreprocessParams,
  'patchSizeVoxels' | 'patchStrideVoxels' | 'minLungFraction'
>;

interface PatchStats {
  corner: [number, number, number];
  lungVoxels: number;
  rindVoxels: number;
  zone: number;
  side: number;
}

/**
 * Cuts cubic patches of `patchSizeVoxels` from the working grid, on a regular grid with step
 * `patchStrideVoxels` laid over the lungs' bounding box. A patch is kept when at least
 * `minLungFraction` of its voxels (and at least one voxel) are lung.
 *
 * Patch voxels that fall outside the working grid get `PADDING_HU` and label 0. Patches are
 * ordered by corner, k slowest and i fastest.
 *
 * @param working - HU on the working grid, direction near LPS.
 * @param labels - lung labels (1 right, 2 left) on the same grid.
 * @param zones - zone code and rind flag per voxel on the same grid.
 * @example
 * const patches = extractPatches(working, labels, zones, DEFAULT_PREPROCESS_PARAMS);
 */
export function extractPatches(
  working: Volume,
  labels: LabelVolume,
  zones: PatchZoneMaps,
  params: PatchParams,
): ExtractedPatches {
  checkInputs(working, labels, zones, params);

  const size = params.patchSizeVoxels;
  const box = labelBoundingBox(labels.data, labels.size);
  const totalLungVoxels = countNonZero(labels.data);
  const voxelMl = (labels.spacingMm[0] * labels.spacingMm[1] * labels.spacingMm[2]) / 1000;
  if (box === undefined) {
    return { ...emptyPatchArrays(size), droppedLungFraction: 0, lungVolumeMl: 0 };
  }

  const starts = [0, 1, 2].map((axis) =>
    patchStarts(box.min[axis], box.max[axis], labels.size[axis], size, params.patchStrideVoxels),
  );
  const minLungVoxels = Math.max(1, Math.ceil(params.minLungFraction * size ** 3 - 1e-9));
  const keptPatches: PatchStats[] = [];
  for (const k of starts[2]) {
    for (const j of starts[1]) {
      for (const i of starts[0]) {
        const stats = measurePatch([i, j, k], size, labels, zones);
        if (stats.lungVoxels >= minLungVoxels) keptPatches.push(stats);
      }
    }
  }

  const patches = copyPatches(keptPatches, size, working, labels);
  const coveredLungVoxels = countCoveredLungVoxels(keptPatches, size, labels);
  const droppedLungFraction = 1 - coveredLungVoxels / totalLungVoxels;
  return { ...patches, droppedLungFraction, lungVolumeMl: totalLungVoxels * voxelMl };
}

function checkInputs(
  working: Volume,
  labels: LabelVolume,
  zones: PatchZoneMaps,
  params: PatchParams,
) {
  const voxels = labels.size[0] * labels.size[1] * labels.size[2];
  if (working.size.join() !== labels.size.join() || working.data.length !== voxels) {
    throw new RangeError(
      `working volume (${working.size.join(' x ')}) and labels (${labels.size.join(' x ')}) ` +
        'must share one grid',
    );
  }
  if (
    labels.data.length !== voxels ||
    zones.zoneCodes.length !== voxels ||
    zones.rind.length !== voxels
  ) {
    throw new RangeError(`labels and zone maps must have ${voxels} voxels each`);
  }
  if (!Number.isInteger(params.patchSizeVoxels) || params.patchSizeVoxels < 1) {
    throw new RangeError(
      `patchSizeVoxels must be a positive integer, got ${params.patchSizeVoxels}`,
    );
  }
  if (!Number.isInteger(params.patchStrideVoxels) || params.patchStrideVoxels < 1) {
    throw new RangeError(
      `patchStrideVoxels must be a positive integer, got ${params.patchStrideVoxels}`,
    );
  }
  if (!(params.minLungFraction >= 0 && params.minLungFraction <= 1)) {
    throw new RangeError(`minLungFraction must lie in [0, 1], got ${params.minLungFraction}`);
  }
}

/** Counts lung, rind, side and zone voxels in one patch, clipped to the grid. */
function measurePatch(
  corner: [number, number, number],
  size: number,
  labels: LabelVolume,
  zones: PatchZoneMaps,
): PatchStats {
  const [nx, ny] = labels.size;
  const [i0, i1] = clipRange(corner[0], size, labels.size[0]);
  const [j0, j1] = clipRange(corner[1], size, labels.size[1]);
  const [k0, k1] = clipRange(corner[2], size, labels.size[2]);
  const zoneCounts = new Int32Array(256);
  let lungVoxels = 0;
  let rightVoxels = 0;
  let rindVoxels = 0;
  for (let k = k0; k < k1; k++) {
    for (let j = j0; j < j1; j++) {
      let index = i0 + nx * (j + ny * k);
      for (let i = i0; i < i1; i++, index++) {
        const label = labels.data[index];
        if (label === 0) continue;
        lungVoxels++;
        if (label === LUNG_LABELS.right) rightVoxels++;
        rindVoxels += zones.rind[index] === 0 ? 0 : 1;
        zoneCounts[zones.zoneCodes[index]]++;
      }
    }
  }

  // Ties go to the lower code: the right lung, or the lower zone code.
  let zone = 0;
  for (let code = 1; code < zoneCounts.length; code++) {
    if (zoneCounts[code] > zoneCounts[zone]) zone = code;
  }
  const side = rightVoxels * 2 >= lungVoxels ? LUNG_LABELS.right : LUNG_LABELS.left;
  return { corner, lungVoxels, rindVoxels, zone, side };
}

/** Returns the part of `[start, start + size)` inside `[0, length)`, as a half-open range. */
function clipRange(start: number, size: number, length: number): [number, number] {
  return [Math.max(0, start), Math.min(length, start + size)];
}

function copyPatches(
  keptPatches: PatchStats[],
  size: number,
  working: Volume,
  labels: LabelVolume,
): PatchArrays {
  const patchVoxels = size ** 3;
  const arrays = emptyPatchArrays(size, keptPatches.length);
  arrays.hu.fill(PADDING_HU);
  const toPhysical = indexToPhysical(labels as GridGeometry);
  const voxelMl = (labels.spacingMm[0] * labels.spacingMm[1] * labels.spacingMm[2]) / 1000;
  const [nx, ny] = labels.size;

  keptPatches.forEach((stats, n) => {
    const [ci, cj, ck] = stats.corner;
    const [i0, i1] = clipRange(ci, size, labels.size[0]);
    const [j0, j1] = clipRange(cj, size, labels.size[1]);
    const [k0, k1] = clipRange(ck, size, labels.size[2]);
    for (let k = k0; k < k1; k++) {
      for (let j = j0; j < j1; j++) {
        const source = i0 + nx * (j + ny * k);
        const target = n * patchVoxels + (i0 - ci) + size * (j - cj + size * (k - ck));
        arrays.hu.set(working.data.subarray(source, source + i1 - i0), target);
        arrays.mask.set(labels.data.subarray(source, source + i1 - i0), target);
      }
    }

    const half = (size - 1) / 2;
    const center = applyAffine(toPhysical, [ci + half, cj + half, ck + half]);
    arrays.centersMm.set(center, 3 * n);
    arrays.cornerIjk.set(stats.corner, 3 * n);
    arrays.lungMl[n] = stats.lungVoxels * voxelMl;
    arrays.zone[n] = stats.zone;
    arrays.side[n] = stats.side;
    arrays.rindFraction[n] = stats.rindVoxels / stats.lungVoxels;
  });
  return arrays;
}

/** Counts lung voxels inside at least one kept patch, so overlapping patches count once. */
function countCoveredLungVoxels(
  keptPatches: PatchStats[],
  size: number,
  labels: LabelVolume,
): number {
  const covered = new Uint8Array(labels.data.length);
  const [nx, ny] = labels.size;
  let count = 0;
  for (const { corner } of keptPatches) {
    const [i0, i1] = clipRange(corner[0], size, labels.size[0]);
    const [j0, j1] = clipRange(corner[1], size, labels.size[1]);
    const [k0, k1] = clipRange(corner[2], size, labels.size[2]);
    for (let k = k0; k < k1; k++) {
      for (let j = j0; j < j1; j++) {
        let index = i0 + nx * (j + ny * k);
        for (let i = i0; i < i1; i++, index++) {
          if (labels.data[index] === 0 || covered[index] === 1) continue;
          covered[index] = 1;
          count++;
        }
      }
    }
  }
  return count;
}

function countNonZero(data: Uint8Array): number {
  let count = 0;
  for (let index = 0; index < data.length; index++) {
    if (data[index] !== 0) count++;
  }
  return count;
}

function emptyPatchArrays(size: number, count = 0): PatchArrays {
  const voxels = count * size ** 3;
  return {
    patchSizeVoxels: size,
    count,
    hu: new Int16Array(voxels),
    mask: new Uint8Array(voxels),
    centersMm: new Float32Array(3 * count),
    cornerIjk: new Int32Array(3 * count),
    lungMl: new Float32Array(count),
    zone: new Uint8Array(count),
    side: new Uint8Array(count),
    rindFraction: new Float32Array(count),
  };
}
