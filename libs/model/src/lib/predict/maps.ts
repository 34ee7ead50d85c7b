import { mapPatchValuesToVolume } from '@dlco/explain';
import {
  resampleFloatToReference,
  resampleLabelsToReference,
  type GridGeometry,
  type LabelVolume,
  type PatchArrays,
} from '@dlco/preprocess';

/** Per-voxel maps on the input grid with the numbers that check them. */
export interface InputGridMaps {
  /** Values per mL of lung on the input grid, 0 outside the lung mask. */
  density: Float32Array;
  /** Lung labels on the input grid (nearest neighbour). */
  lungMask: Uint8Array;
  /** Sum of the patch values placed on the working grid, in the values' unit. */
  placedSum: number;
  /**
   * Integral of `density` over the input grid's lung voxels, in the values' unit. It differs from
   * `placedSum` by interpolation and by the lung border of the nearest-neighbour mask.
   */
  inputGridSum: number;
  /** Patches with no lung voxel on the working grid, left out of the map. */
  unplacedPatches: number[];
}

/** Returns the volume of one voxel, in mL. */
export function voxelMl(grid: GridGeometry): number {
  return (grid.spacingMm[0] * grid.spacingMm[1] * grid.spacingMm[2]) / 1000;
}

/** Resamples working-grid lung labels onto the input grid (same size, spacing, origin, direction). */
export function lungMaskOnInputGrid(labels: LabelVolume, input: GridGeometry): Uint8Array {
  return resampleLabelsToReference(labels, input).data;
}

/**
 * Spreads per-patch values (ml/min/mmHg) evenly over each patch's lung voxels on the working grid,
 * converts them to a density per mL of lung, and resamples the density trilinearly onto the input
 * grid. Voxels outside the input-grid lung mask are set to 0, because the values describe lung
 * only, while interpolation would spread them one working voxel past the lung border.
 */
export function patchValueMap(
  values: ArrayLike<number>,
  patches: PatchArrays,
  labels: LabelVolume,
  input: GridGeometry,
  lungMask: Uint8Array,
): InputGridMaps {
  const placed = mapPatchValuesToVolume({
    values,
    cornerIjk: patches.cornerIjk,
    patchSizeVoxels: patches.patchSizeVoxels,
    gridSize: labels.size,
    lungMask: labels.data,
  });
  const density = densityOnInputGrid(placed.map, labels, input, lungMask);
  let inputGridSum = 0;
  const inputVoxelMl = voxelMl(input);
  for (let n = 0; n < density.length; n++) inputGridSum += density[n] * inputVoxelMl;
  return {
    density,
    lungMask,
    placedSum: placed.placedSum,
    inputGridSum,
    unplacedPatches: placed.unplacedPatches,
  };
}

/**
 * Converts a working-grid map in value per voxel to value per mL, resamples it onto the input
 * grid and zeroes it outside `inputMask` when a mask is given.
 */
export function densityOnInputGrid(
  perVoxel: Float32Array,
  working: GridGeometry,
  input: GridGeometry,
  inputMask?: Uint8Array,
): Float32Array {
  const workingVoxelMl = voxelMl(working);
  // A plain loop: Float32Array.from with a map function is several times slower on 3-D grids.
  const density = new Float32Array(perVoxel.length);
  for (let n = 0; n < perVoxel.length; n++) density[n] = perVoxel[n] / workingVoxelMl;
  const resampled = resampleFloatToReference(density, working, input);
  if (inputMask !== undefined) {
    for (let n = 0; n < resampled.length; n++) if (inputMask[n] === 0) resampled[n] = 0;
  }
  return resampled;
}
