import { loadedSharedSlabWorkerPool, type SlabWorkerPool } from '../parallel/slab-worker-pool.ts';

/** Squared distance used for voxels with no background voxel on any path (mm²). */
export const NO_BACKGROUND_DISTANCE = 1e20;

/**
 * Computes, for every voxel with `mask[n] !== 0`, the squared Euclidean distance in mm² to the
 * centre of the nearest voxel with `mask[n] === 0`, and 0 for background voxels.
 *
 * This is the exact separable transform of Felzenszwalb and Huttenlocher ("Distance Transforms of
 * Sampled Functions", Theory of Computing 8, 2012): one lower-envelope pass per axis, O(n) per
 * line. Axis 0 uses two plain scans instead, because its input is still binary. Space beyond the
 * image edge is not background, so a mask touching the edge has no surface there. A mask with no
 * background voxel gets `NO_BACKGROUND_DISTANCE` everywhere.
 */
export function squaredDistanceToBackground(
  mask: Uint8Array,
  size: [number, number, number],
  spacingMm: [number, number, number],
  pool: SlabWorkerPool | undefined = loadedSharedSlabWorkerPool(),
): Float32Array {
  const voxels = mask.length;
  if (pool !== undefined && voxels >= MIN_PARALLEL_VOXELS) {
    const shared = new Uint8Array(new SharedArrayBuffer(voxels));
    shared.set(mask);
    const distance = new Float32Array(new SharedArrayBuffer(voxels * 4));
    const job: DistanceJob = { mask: shared, size, spacingMm, distance, axis: 0 };
    try {
      // Axis 0 works on rows of each slice, axes 1 and 2 on lines along them: split by the
      // index that lines do not run along, slices for axes 0 and 1, rows for axis 2.
      for (const axis of [0, 1, 2] as const) {
        pool.runSync({
          task: { kind: 'distance-axis', job: { ...job, axis } },
          total: axis === 2 ? size[1] : size[2],
          chunkSize: DISTANCE_LINES_PER_CHUNK,
        });
      }
      return distance;
    } catch {
      // A worker failed, so some lines may be missing: compute all of it on this thread.
    }
  }
  const distance = new Float32Array(voxels);
  const job: DistanceJob = { mask, size, spacingMm, distance, axis: 0 };
  const passes = new DistancePasses();
  for (const axis of [0, 1, 2] as const) {
    passes.run({ ...job, axis }, 0, axis === 2 ? size[1] : size[2]);
  }
  return distance;
}

/** Volumes smaller than this many voxels are transformed on the calling thread alone. */
const MIN_PARALLEL_VOXELS = 200_000;
/** Slices (axes 0 and 1) or rows (axis 2) per chunk that a thread claims. */
const DISTANCE_LINES_PER_CHUNK = 4;

/** One axis pass of `squaredDistanceToBackground`, on arrays that threads may share. */
export interface DistanceJob {
  mask: Uint8Array;
  size: [number, number, number];
  spacingMm: [number, number, number];
  /** Output, written by the axis-0 pass and updated in place by the others. */
  distance: Float32Array;
  axis: 0 | 1 | 2;
}

/**
 * Runs axis passes of the transform over a range of the index that the pass's lines do not run
 * along: slices k for axes 0 and 1, rows j for axis 2. Holds scratch lines, so each thread needs
 * its own instance. Every line is computed the same way whatever range contains it.
 */
export class DistancePasses {
  private line = new Float64Array(0);
  private result = new Float64Array(0);
  private vertices = new Int32Array(0);
  private bounds = new Float64Array(0);

  run(job: DistanceJob, first: number, end: number): void {
    const { mask, size, spacingMm, distance, axis } = job;
    const plane = size[0] * size[1];
    if (axis === 0) {
      firstAxisPass(
        mask.subarray(first * plane, end * plane),
        size[0],
        spacingMm[0],
        distance.subarray(first * plane, end * plane),
      );
      return;
    }
    const n = size[axis];
    if (this.line.length < n) {
      this.line = new Float64Array(n);
      this.result = new Float64Array(n);
      this.vertices = new Int32Array(n);
      this.bounds = new Float64Array(n + 1);
    }
    const { line, result, vertices, bounds } = this;
    const strides = [1, size[0], plane];
    const stride = strides[axis];
    // Lines along axis 1 lie in slice k = b; lines along axis 2 lie in row j = b.
    const v = axis === 1 ? 2 : 1;
    for (let b = first; b < end; b++) {
      for (let a = 0; a < size[0]; a++) {
        const base = a + b * strides[v];
        for (let i = 0; i < n; i++) line[i] = distance[base + i * stride];
        lowerEnvelope(line, n, spacingMm[axis], result, vertices, bounds);
        for (let i = 0; i < n; i++)
          distance[base + i * stride] = Math.min(result[i], NO_BACKGROUND_DISTANCE);
      }
    }
  }
}

/**
 * Writes the squared distance along axis 0 to the nearest background voxel of the same row. On a
 * binary mask this needs only a forward and a backward scan, not the lower envelope.
 */
function firstAxisPass(
  mask: Uint8Array,
  rowLength: number,
  spacing: number,
  distance: Float32Array,
): void {
  const s2 = spacing * spacing;
  for (let base = 0; base < mask.length; base += rowLength) {
    let lastBackground = -1;
    for (let i = 0; i < rowLength; i++) {
      if (!mask[base + i]) lastBackground = i;
      const gap = i - lastBackground;
      distance[base + i] = lastBackground < 0 ? NO_BACKGROUND_DISTANCE : s2 * gap * gap;
    }
    let nextBackground = -1;
    for (let i = rowLength - 1; i >= 0; i--) {
      if (!mask[base + i]) nextBackground = i;
      if (nextBackground < 0) continue;
      const gap = nextBackground - i;
      const squared = s2 * gap * gap;
      if (squared < distance[base + i]) distance[base + i] = squared;
    }
  }
}

/** One-dimensional pass: `result[i] = min_j ((i - j) * spacing)² + f[j]`. */
function lowerEnvelope(
  f: Float64Array,
  n: number,
  spacing: number,
  result: Float64Array,
  vertices: Int32Array,
  bounds: Float64Array,
): void {
  const s2 = spacing * spacing;
  let k = -1;
  for (let q = 0; q < n; q++) {
    if (f[q] >= NO_BACKGROUND_DISTANCE) continue;
    while (k >= 0) {
      const p = vertices[k];
      // Intersection of the parabolas rooted at p and q, in index units.
      const s = (f[q] - f[p] + s2 * (q * q - p * p)) / (2 * s2 * (q - p));
      if (s <= bounds[k]) k--;
      else {
        k++;
        vertices[k] = q;
        bounds[k] = s;
        break;
      }
    }
    if (k < 0) {
      k = 0;
      vertices[0] = q;
      bounds[0] = -Infinity;
    }
  }
  if (k < 0) {
    result.fill(NO_BACKGROUND_DISTANCE, 0, n);
    return;
  }
  bounds[k + 1] = Infinity;
  let j = 0;
  for (let q = 0; q < n; q++) {
    while (bounds[j + 1] < q) j++;
    const d = q - vertices[j];
    result[q] = s2 * d * d + f[vertices[j]];
  }
}
