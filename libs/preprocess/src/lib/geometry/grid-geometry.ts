/**
 * Physical layout of a voxel grid, shared by `Volume`, `LabelVolume` and the working grid.
 * Patient coordinates are LPS in mm, and `direction` is row-major (`direction[3 * r + c]` is
 * the LPS component `r` of voxel axis `c`), as in `Volume`.
 */
export interface GridGeometry {
  size: [number, number, number];
  spacingMm: [number, number, number];
  originMm: [number, number, number];
  direction: Float64Array;
}

/** Affine map `y = matrix * x + offset`, with a row-major 3 x 3 matrix. */
export interface Affine3 {
  matrix: Float64Array;
  offset: [number, number, number];
}

export const IDENTITY_DIRECTION: Readonly<Float64Array> = Float64Array.of(
  1,
  0,
  0,
  0,
  1,
  0,
  0,
  0,
  1,
);

/** Copies only the geometry fields, so the result holds no reference to voxel data. */
export function geometryOf(grid: GridGeometry): GridGeometry {
  return {
    size: [...grid.size],
    spacingMm: [...grid.spacingMm],
    originMm: [...grid.originMm],
    direction: Float64Array.from(grid.direction),
  };
}

export function voxelCount(grid: GridGeometry): number {
  return grid.size[0] * grid.size[1] * grid.size[2];
}

/** Returns the inverse of a row-major 3 x 3 matrix, or throws a RangeError if it is singular. */
export function invert3x3(m: ArrayLike<number>): Float64Array {
  const [a, b, c, d, e, f, g, h, i] = Array.from(m);
  const c00 = e * i - f * h;
  const c01 = -(d * i - f * g);
  const c02 = d * h - e * g;
  const det = a * c00 + b * c01 + c * c02;
  if (!Number.isFinite(det) || Math.abs(det) < 1e-12) {
    throw new RangeError(`Matrix is singular (determinant ${det}); check the direction cosines.`);
  }
  const inv = new Float64Array([
    c00,
    -(b * i - c * h),
    b * f - c * e,
    c01,
    a * i - c * g,
    -(a * f - c * d),
    c02,
    -(a * h - b * g),
    a * e - b * d,
  ]);
  for (let n = 0; n < 9; n++) inv[n] /= det;
  return inv;
}

/** Returns the affine that maps a continuous voxel index of `grid` to an LPS point in mm. */
export function indexToPhysical(grid: GridGeometry): Affine3 {
  const matrix = new Float64Array(9);
  for (let r = 0; r < 3; r++) {
    for (let c = 0; c < 3; c++) matrix[3 * r + c] = grid.direction[3 * r + c] * grid.spacingMm[c];
  }
  return { matrix, offset: [...grid.originMm] };
}

/** Returns the affine that maps a continuous voxel index of `from` to one of `to`. */
export function indexToIndex(from: GridGeometry, to: GridGeometry): Affine3 {
  const source = indexToPhysical(from);
  const targetInverse = invert3x3(indexToPhysical(to).matrix);
  const matrix = multiply3x3(targetInverse, source.matrix);
  const shift = [0, 1, 2].map((r) => source.offset[r] - to.originMm[r]);
  const offset = [0, 1, 2].map(
    (r) =>
      targetInverse[3 * r] * shift[0] +
      targetInverse[3 * r + 1] * shift[1] +
      targetInverse[3 * r + 2] * shift[2],
  ) as [number, number, number];
  return { matrix, offset };
}

export function applyAffine(affine: Affine3, point: ArrayLike<number>): [number, number, number] {
  const m = affine.matrix;
  const out: [number, number, number] = [0, 0, 0];
  for (let r = 0; r < 3; r++) {
    out[r] =
      m[3 * r] * point[0] + m[3 * r + 1] * point[1] + m[3 * r + 2] * point[2] + affine.offset[r];
  }
  return out;
}

export function multiply3x3(a: ArrayLike<number>, b: ArrayLike<number>): Float64Array {
  const out = new Float64Array(9);
  for (let r = 0; r < 3; r++) {
    for (let c = 0; c < 3; c++) {
      out[3 * r + c] = a[3 * r] * b[c] + a[3 * r + 1] * b[3 + c] + a[3 * r + 2] * b[6 + c];
    }
  }
  return out;
}

/** Returns the LPS bounding box of the voxel centres of `grid`, in mm. */
export function physicalBounds(grid: GridGeometry): { min: number[]; max: number[] } {
  const toPhysical = indexToPhysical(grid);
  const min = [Infinity, Infinity, Infinity];
  const max = [-Infinity, -Infinity, -Infinity];
  for (let corner = 0; corner < 8; corner++) {
    const index = [0, 1, 2].map((a) => ((corner >> a) & 1) * (grid.size[a] - 1));
    const point = applyAffine(toPhysical, index);
    for (let a = 0; a < 3; a++) {
      min[a] = Math.min(min[a], point[a]);
      max[a] = Math.max(max[a], point[a]);
    }
  }
  return { min, max };
}

/** Returns the rotation angle, in degrees, between `direction` and the identity. */
export function rotationAngleDeg(direction: ArrayLike<number>): number {
  const cosine = (direction[0] + direction[4] + direction[8] - 1) / 2;
  return (Math.acos(Math.min(1, Math.max(-1, cosine))) * 180) / Math.PI;
}
