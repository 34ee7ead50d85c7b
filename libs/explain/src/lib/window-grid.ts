import type { VoxelTriple } from './argument-checks.ts';

/**
 * Returns the first voxel index of every window along one axis: 0, stride, 2·stride, … up to
 * the first window that reaches the last voxel. That last window may reach past the axis and is
 * then truncated by the caller. With `stride > window`, voxels between windows are never covered.
 */
export function windowStarts(length: number, window: number, stride: number): number[] {
  const count = Math.max(1, Math.ceil((length - window) / stride) + 1);
  return Array.from({ length: count }, (_, n) => n * stride);
}

/** Window positions of a sliding-window pass, as per-axis start lists. */
export interface WindowGrid {
  size: VoxelTriple;
  window: VoxelTriple;
  starts: [number[], number[], number[]];
}

export function createWindowGrid(
  size: VoxelTriple,
  window: VoxelTriple,
  stride: VoxelTriple,
): WindowGrid {
  const starts: [number[], number[], number[]] = [
    windowStarts(size[0], window[0], stride[0]),
    windowStarts(size[1], window[1], stride[1]),
    windowStarts(size[2], window[2], stride[2]),
  ];
  return { size, window, starts };
}

/** Number of window positions in the grid, before any mask filter. */
export function windowCount(grid: WindowGrid): number {
  return grid.starts[0].length * grid.starts[1].length * grid.starts[2].length;
}

/** Inclusive-exclusive voxel box of a window, truncated to the volume. */
export interface VoxelBox {
  min: [number, number, number];
  max: [number, number, number];
}

/** Returns the voxel box of window `id`, where ids count x fastest, then y, then z. */
export function windowBox(grid: WindowGrid, id: number): VoxelBox {
  const countX = grid.starts[0].length;
  const countY = grid.starts[1].length;
  const a = id % countX;
  const b = Math.floor(id / countX) % countY;
  const c = Math.floor(id / (countX * countY));
  const min: [number, number, number] = [grid.starts[0][a], grid.starts[1][b], grid.starts[2][c]];
  const max: [number, number, number] = [
    Math.min(min[0] + grid.window[0], grid.size[0]),
    Math.min(min[1] + grid.window[1], grid.size[1]),
    Math.min(min[2] + grid.window[2], grid.size[2]),
  ];
  return { min, max };
}

/** Calls `visit(index)` for the linear index (x fastest) of every voxel in the box. */
export function forEachVoxel(size: VoxelTriple, box: VoxelBox, visit: (index: number) => void) {
  const [nx, ny] = size;
  for (let z = box.min[2]; z < box.max[2]; z++) {
    for (let y = box.min[1]; y < box.max[1]; y++) {
      const rowStart = nx * (y + ny * z);
      for (let x = box.min[0]; x < box.max[0]; x++) visit(rowStart + x);
    }
  }
}

/** Returns whether any voxel of the box is non-zero in `mask`. */
export function boxTouchesMask(size: VoxelTriple, box: VoxelBox, mask: Uint8Array): boolean {
  const [nx, ny] = size;
  for (let z = box.min[2]; z < box.max[2]; z++) {
    for (let y = box.min[1]; y < box.max[1]; y++) {
      const rowStart = nx * (y + ny * z);
      for (let x = box.min[0]; x < box.max[0]; x++) {
        if (mask[rowStart + x] !== 0) return true;
      }
    }
  }
  return false;
}

/** Returns the number of voxels in the box. */
export function boxVoxelCount(box: VoxelBox): number {
  return (box.max[0] - box.min[0]) * (box.max[1] - box.min[1]) * (box.max[2] - box.min[2]);
}
