import { squaredDistanceToBackground } from './distance-transform.ts';

export type Size3 = [number, number, number];
export type Spacing3 = [number, number, number];

/** Connected components of a binary mask: `labels` is 0 for background, else 1-based. */
export interface Components {
  labels: Int32Array;
  /** Voxel count of component `c` at index `c - 1`. */
  sizes: number[];
}

/** Labels the 6-connected components of `mask` with a breadth-first search. */
export function connectedComponents(mask: Uint8Array, size: Size3): Components {
  const [n0, n1] = size;
  const plane = n0 * n1;
  const lastPlaneStart = mask.length - plane;
  const labels = new Int32Array(mask.length);
  const queue = new Int32Array(mask.length);
  const sizes: number[] = [];
  for (let seed = 0; seed < mask.length; seed++) {
    if (!mask[seed] || labels[seed]) continue;
    const label = sizes.length + 1;
    let head = 0;
    let tail = 0;
    queue[tail++] = seed;
    labels[seed] = label;
    while (head < tail) {
      const n = queue[head++];
      // Position within the row and within the slice; the slice bounds need no division.
      const i = n % n0;
      const inPlane = n % plane;
      if (i > 0 && mask[n - 1] && !labels[n - 1])
        ((labels[n - 1] = label), (queue[tail++] = n - 1));
      if (i < n0 - 1 && mask[n + 1] && !labels[n + 1])
        ((labels[n + 1] = label), (queue[tail++] = n + 1));
      if (inPlane >= n0 && mask[n - n0] && !labels[n - n0])
        ((labels[n - n0] = label), (queue[tail++] = n - n0));
      if (inPlane < plane - n0 && mask[n + n0] && !labels[n + n0])
        ((labels[n + n0] = label), (queue[tail++] = n + n0));
      if (n >= plane && mask[n - plane] && !labels[n - plane])
        ((labels[n - plane] = label), (queue[tail++] = n - plane));
      if (n < lastPlaneStart && mask[n + plane] && !labels[n + plane])
        ((labels[n + plane] = label), (queue[tail++] = n + plane));
    }
    sizes.push(tail);
  }
  return { labels, sizes };
}

/** Returns the 1-based component labels sorted by decreasing size. */
export function componentsBySize(components: Components): number[] {
  return components.sizes
    .map((_, c) => c + 1)
    .sort((a, b) => components.sizes[b - 1] - components.sizes[a - 1]);
}

/**
 * Fills, in every axial slice, background regions that are not 4-connected to the slice edge.
 * Works in place and returns `mask`.
 */
export function fillHolesPerSlice(mask: Uint8Array, size: Size3): Uint8Array {
  const [n0, n1, n2] = size;
  const plane = n0 * n1;
  const outside = new Uint8Array(plane);
  const queue = new Int32Array(plane);
  for (let k = 0; k < n2; k++) {
    const base = k * plane;
    outside.fill(0);
    let tail = 0;
    const push = (p: number) => {
      if (!mask[base + p] && !outside[p]) {
        outside[p] = 1;
        queue[tail++] = p;
      }
    };
    for (let i = 0; i < n0; i++) (push(i), push(i + (n1 - 1) * n0));
    for (let j = 0; j < n1; j++) (push(j * n0), push(j * n0 + n0 - 1));
    for (let head = 0; head < tail; head++) {
      const p = queue[head];
      const i = p % n0;
      if (i > 0) push(p - 1);
      if (i < n0 - 1) push(p + 1);
      if (p >= n0) push(p - n0);
      if (p < plane - n0) push(p + n0);
    }
    for (let p = 0; p < plane; p++) if (!outside[p]) mask[base + p] = 1;
  }
  return mask;
}

/**
 * Fills the background regions of `mask` that are enclosed in 3-D: those not 6-connected to a
 * face of the volume. Unlike `fillHolesPerSlice`, this leaves tissue that one axial slice shows
 * as an island inside the lung but that continues outside the lung in other slices (the liver or
 * spleen under the diaphragm dome, the heart). Works in place and returns `mask`.
 */
export function fillEnclosedHoles(mask: Uint8Array, size: Size3): Uint8Array {
  const [n0, n1, n2] = size;
  const plane = n0 * n1;
  const lastPlaneStart = mask.length - plane;
  const outside = new Uint8Array(mask.length);
  const queue = new Int32Array(mask.length);
  let tail = 0;
  for (let n = 0; n < mask.length; n++) {
    const i = n % n0;
    const j = ((n / n0) | 0) % n1;
    const k = (n / plane) | 0;
    const onFace = i === 0 || i === n0 - 1 || j === 0 || j === n1 - 1 || k === 0 || k === n2 - 1;
    if (onFace && !mask[n]) {
      outside[n] = 1;
      queue[tail++] = n;
    }
  }
  for (let head = 0; head < tail; head++) {
    const n = queue[head];
    const i = n % n0;
    const inPlane = n % plane;
    if (i > 0 && !mask[n - 1] && !outside[n - 1]) ((outside[n - 1] = 1), (queue[tail++] = n - 1));
    if (i < n0 - 1 && !mask[n + 1] && !outside[n + 1])
      ((outside[n + 1] = 1), (queue[tail++] = n + 1));
    if (inPlane >= n0 && !mask[n - n0] && !outside[n - n0])
      ((outside[n - n0] = 1), (queue[tail++] = n - n0));
    if (inPlane < plane - n0 && !mask[n + n0] && !outside[n + n0])
      ((outside[n + n0] = 1), (queue[tail++] = n + n0));
    if (n >= plane && !mask[n - plane] && !outside[n - plane])
      ((outside[n - plane] = 1), (queue[tail++] = n - plane));
    if (n < lastPlaneStart && !mask[n + plane] && !outside[n + plane])
      ((outside[n + plane] = 1), (queue[tail++] = n + plane));
  }
  for (let n = 0; n < mask.length; n++) if (!outside[n]) mask[n] = 1;
  return mask;
}

/** Dilates `mask` by a ball of `radiusMm` (exact Euclidean, via the distance transform). */
export function dilate(
  mask: Uint8Array,
  size: Size3,
  spacingMm: Spacing3,
  radiusMm: number,
): Uint8Array {
  const inverse = new Uint8Array(mask.length);
  for (let n = 0; n < mask.length; n++) inverse[n] = mask[n] ? 0 : 1;
  const distance = squaredDistanceToBackground(inverse, size, spacingMm);
  const limit = radiusMm * radiusMm + 1e-6;
  const out = new Uint8Array(mask.length);
  for (let n = 0; n < mask.length; n++) out[n] = distance[n] <= limit ? 1 : 0;
  return out;
}

/** Erodes `mask` by a ball of `radiusMm`. The image edge does not erode. */
export function erode(
  mask: Uint8Array,
  size: Size3,
  spacingMm: Spacing3,
  radiusMm: number,
): Uint8Array {
  const distance = squaredDistanceToBackground(mask, size, spacingMm);
  const limit = radiusMm * radiusMm + 1e-6;
  const out = new Uint8Array(mask.length);
  for (let n = 0; n < mask.length; n++) out[n] = distance[n] > limit ? 1 : 0;
  return out;
}

/** Closes `mask` (dilation, then erosion) with a ball of `radiusMm`. */
export function close(
  mask: Uint8Array,
  size: Size3,
  spacingMm: Spacing3,
  radiusMm: number,
): Uint8Array {
  return erode(dilate(mask, size, spacingMm, radiusMm), size, spacingMm, radiusMm);
}

/** Axis-aligned voxel box: `min` inclusive, `max` exclusive. */
export interface Box {
  min: Size3;
  max: Size3;
}

/** Returns the bounding box of the voxels equal to `value`, grown by `margin` voxels. */
export function boundingBox(
  data: Uint8Array,
  size: Size3,
  value: number,
  margin: number,
): Box | undefined {
  const [n0, n1, n2] = size;
  const min: Size3 = [Infinity, Infinity, Infinity];
  const max: Size3 = [-1, -1, -1];
  for (let k = 0; k < n2; k++) {
    for (let j = 0; j < n1; j++) {
      // Only the first and last match of a row move the box along i, so each row is scanned
      // from both ends and its middle is skipped.
      const rowBase = n0 * (j + n1 * k);
      let first = 0;
      while (first < n0 && data[rowBase + first] !== value) first++;
      if (first === n0) continue;
      let last = n0 - 1;
      while (data[rowBase + last] !== value) last--;
      if (first < min[0]) min[0] = first;
      if (last > max[0]) max[0] = last;
      if (j < min[1]) min[1] = j;
      if (j > max[1]) max[1] = j;
      if (k < min[2]) min[2] = k;
      if (k > max[2]) max[2] = k;
    }
  }
  if (max[0] < 0) return undefined;
  return {
    min: min.map((v) => Math.max(0, v - margin)) as Size3,
    max: max.map((v, a) => Math.min(size[a], v + 1 + margin)) as Size3,
  };
}

/** Copies the voxels of `box` out of `data` into a new array of the box's size. */
export function cropToBox<T extends Uint8Array | Int16Array>(data: T, size: Size3, box: Box): T {
  const [b0, b1, b2] = [0, 1, 2].map((a) => box.max[a] - box.min[a]);
  const out = new (data.constructor as new (length: number) => T)(b0 * b1 * b2);
  let m = 0;
  for (let k = 0; k < b2; k++) {
    for (let j = 0; j < b1; j++) {
      const start = box.min[0] + size[0] * (box.min[1] + j + size[1] * (box.min[2] + k));
      out.set(data.subarray(start, start + b0) as never, m);
      m += b0;
    }
  }
  return out;
}

export function boxSize(box: Box): Size3 {
  return [0, 1, 2].map((a) => box.max[a] - box.min[a]) as Size3;
}

/** Calls `visit(boxIndex, fullIndex)` for every voxel of `box`. */
export function forEachInBox(
  size: Size3,
  box: Box,
  visit: (boxIndex: number, fullIndex: number) => void,
): void {
  const [b0, b1, b2] = boxSize(box);
  let m = 0;
  for (let k = 0; k < b2; k++) {
    for (let j = 0; j < b1; j++) {
      const start = box.min[0] + size[0] * (box.min[1] + j + size[1] * (box.min[2] + k));
      for (let i = 0; i < b0; i++, m++) visit(m, start + i);
    }
  }
}

/** Returns `mask` dilated by its 6 face neighbours, the ball of radius one voxel. */
export function dilateByOneVoxel(mask: Uint8Array, size: Size3): Uint8Array {
  const [n0, n1, n2] = size;
  const plane = n0 * n1;
  const out = Uint8Array.from(mask);
  for (let n = 0; n < mask.length; n++) {
    if (!mask[n]) continue;
    const i = n % n0;
    const j = ((n / n0) | 0) % n1;
    const k = (n / plane) | 0;
    if (i > 0) out[n - 1] = 1;
    if (i < n0 - 1) out[n + 1] = 1;
    if (j > 0) out[n - n0] = 1;
    if (j < n1 - 1) out[n + n0] = 1;
    if (k > 0) out[n - plane] = 1;
    if (k < n2 - 1) out[n + plane] = 1;
  }
  return out;
}
