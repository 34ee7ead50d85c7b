/** Inclusive voxel index range of the lungs along each axis. */
export interface IndexBox {
  min: [number, number, number];
  max: [number, number, number];
}

/**
 * Returns the smallest index box around every voxel whose label is not 0, or `undefined` when
 * every label is 0.
 */
export function labelBoundingBox(
  labels: Uint8Array,
  size: readonly [number, number, number],
): IndexBox | undefined {
  const [nx, ny, nz] = size;
  const min: [number, number, number] = [nx, ny, nz];
  const max: [number, number, number] = [-1, -1, -1];
  let index = 0;
  for (let k = 0; k < nz; k++) {
    for (let j = 0; j < ny; j++) {
      for (let i = 0; i < nx; i++, index++) {
        if (labels[index] === 0) continue;
        if (i < min[0]) min[0] = i;
        if (i > max[0]) max[0] = i;
        if (j < min[1]) min[1] = j;
        if (j > max[1]) max[1] = j;
        if (k < min[2]) min[2] = k;
        if (k > max[2]) max[2] = k;
      }
    }
  }
  return max[0] < 0 ? undefined : { min, max };
}

/**
 * Returns the first voxel index of every patch along one axis.
 *
 * The patches step by `stride` and together span the box's extent. The span is centred on the
 * box and shifted to stay inside `[0, gridLength)` when it fits there. When it does not fit,
 * the outer patches reach past the grid.
 */
export function patchStarts(
  boxMin: number,
  boxMax: number,
  gridLength: number,
  patchSize: number,
  stride: number,
): number[] {
  const extent = boxMax - boxMin + 1;
  const count = Math.max(1, Math.ceil((extent - patchSize) / stride) + 1);
  const span = (count - 1) * stride + patchSize;
  let first = boxMin - Math.floor((span - extent) / 2);
  if (span <= gridLength) {
    first = Math.min(Math.max(first, 0), gridLength - span);
  }
  return Array.from({ length: count }, (_, n) => first + n * stride);
}
