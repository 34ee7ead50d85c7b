import {
  describeValue,
  requireFinite,
  requireInteger,
  requireLength,
  requireVoxelTriple,
  type VoxelTriple,
} from './argument-checks.ts';
import { ExplainTypeError } from './errors.ts';
import { forEachVoxel, type VoxelBox } from './window-grid.ts';

export interface PatchValueMapInput {
  /** One value per patch, for example an attribution in ml/min/mmHg. */
  values: ArrayLike<number>;
  /**
   * Working-grid index (i, j, k) of each patch's first voxel, N × 3 flat, as `cornerIjk` in a
   * patch bag. Corners may be negative, and patches may reach past the grid.
   */
  cornerIjk: ArrayLike<number>;
  /** Patch edge length in voxels: one number for cubic patches, or [x, y, z]. */
  patchSizeVoxels: number | VoxelTriple;
  /** Working-grid size [nx, ny, nz] in voxels. */
  gridSize: VoxelTriple;
  /** Lung mask on the working grid, non-zero inside the lungs (default: every voxel). */
  lungMask?: Uint8Array;
}

export interface PatchValueMap {
  /** Value per working-grid voxel, x fastest, in the unit of `values` per voxel. */
  map: Float32Array;
  /** Sum of the values that were placed, computed in double precision. */
  placedSum: number;
  /** Patches with no lung voxel inside the grid. Their values are not in `map`. */
  unplacedPatches: number[];
}

/**
 * Spreads per-patch values over the working grid. Each patch's value is divided evenly among
 * its lung voxels inside the grid, and overlapping patches add up.
 *
 * The map's sum therefore equals the sum of the placed values (up to float32 rounding), and
 * voxels outside the lung mask stay 0. A patch with no lung voxel inside the grid cannot be
 * placed. It is listed in `unplacedPatches`, and its value is missing from the map.
 *
 * @param input - Values, patch corners and size, grid size and optional lung mask.
 * @returns The voxel map, the placed sum and the unplaced patches.
 * @throws ExplainTypeError or ExplainRangeError naming the invalid argument.
 * @example
 * ```ts
 * const { map } = mapPatchValuesToVolume({
 *   values: result.attribution,
 *   cornerIjk: bag.patches.cornerIjk,
 *   patchSizeVoxels: bag.patches.patchSizeVoxels,
 *   gridSize: bag.metadata.workingGeometry.size,
 *   lungMask,
 * });
 * ```
 */
export function mapPatchValuesToVolume(input: PatchValueMapInput): PatchValueMap {
  const { values, cornerIjk, lungMask } = input;
  const gridSize = requireVoxelTriple('gridSize', input.gridSize, 1, 'Pass [nx, ny, nz].');
  const patchSize = requirePatchSize(input.patchSizeVoxels);
  requireLength('cornerIjk', cornerIjk, 3 * values.length, '3 per patch value');
  const voxelCount = gridSize[0] * gridSize[1] * gridSize[2];
  if (lungMask !== undefined) requireLength('lungMask', lungMask, voxelCount, 'one per voxel');

  const sums = new Float64Array(voxelCount);
  const unplacedPatches: number[] = [];
  let placedSum = 0;
  const isLung = (index: number) => lungMask === undefined || lungMask[index] !== 0;

  for (let n = 0; n < values.length; n++) {
    const value = requireFinite(`values[${n}]`, values[n]);
    const box = clippedPatchBox(cornerIjk, n, patchSize, gridSize);
    let lungVoxels = 0;
    forEachVoxel(gridSize, box, (index) => {
      if (isLung(index)) lungVoxels++;
    });
    if (lungVoxels === 0) {
      unplacedPatches.push(n);
      continue;
    }

    const share = value / lungVoxels;
    forEachVoxel(gridSize, box, (index) => {
      if (isLung(index)) sums[index] += share;
    });
    placedSum += value;
  }
  return { map: Float32Array.from(sums), placedSum, unplacedPatches };
}

/** Returns the patch's voxel box clipped to the grid. It is empty when min ≥ max on an axis. */
function clippedPatchBox(
  cornerIjk: ArrayLike<number>,
  patch: number,
  patchSize: VoxelTriple,
  gridSize: VoxelTriple,
): VoxelBox {
  const min: [number, number, number] = [0, 0, 0];
  const max: [number, number, number] = [0, 0, 0];
  for (let axis = 0; axis < 3; axis++) {
    const corner = cornerIjk[3 * patch + axis];
    if (!Number.isInteger(corner)) {
      const argument = `cornerIjk[${3 * patch + axis}]`;
      throw new ExplainTypeError(
        'EXPLAIN_INVALID_ARGUMENT',
        argument,
        corner,
        `${argument} must be an integer voxel index, received ${describeValue(corner)}.`,
      );
    }
    min[axis] = Math.min(Math.max(corner, 0), gridSize[axis]);
    max[axis] = Math.max(Math.min(corner + patchSize[axis], gridSize[axis]), min[axis]);
  }
  return { min, max };
}

function requirePatchSize(patchSize: number | VoxelTriple): VoxelTriple {
  const fix = 'Pass the patch edge length in voxels.';
  if (typeof patchSize === 'number') {
    const edge = requireInteger('patchSizeVoxels', patchSize, 1, fix);
    return [edge, edge, edge];
  }
  return requireVoxelTriple('patchSizeVoxels', patchSize, 1, fix);
}
