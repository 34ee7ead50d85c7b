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
): Float32Array {
  const distance = new Float32Array(mask.length);
  firstAxisPass(mask, size[0], spacingMm[0], distance);
  const longest = Math.max(...size);
  const line = new Float64Array(longest);
  const result = new Float64Array(longest);
  const vertices = new Int32Array(longest);
  const bounds = new Float64Array(longest + 1);
  const strides = [1, size[0], size[0] * size[1]];
  for (let axis = 1; axis < 3; axis++) {
    const n = size[axis];
    const stride = strides[axis];
    const [u, v] = [0, 1, 2].filter((a) => a !== axis);
    for (let b = 0; b < size[v]; b++) {
      for (let a = 0; a < size[u]; a++) {
        const base = a * strides[u] + b * strides[v];
        for (let i = 0; i < n; i++) line[i] = distance[base + i * stride];
        lowerEnvelope(line, n, spacingMm[axis], result, vertices, bounds);
        for (let i = 0; i < n; i++)
          distance[base + i * stride] = Math.min(result[i], NO_BACKGROUND_DISTANCE);
      }
    }
  }
  return distance;
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
