import { LUNG_LABELS } from '../volume.ts';
import { squaredDistanceToBackground } from './distance-transform.ts';
import {
  boundingBox,
  boxSize,
  componentsBySize,
  connectedComponents,
  cropToBox,
  forEachInBox,
  type Size3,
  type Spacing3,
} from './morphology.ts';

/** A second component smaller than this share of the largest is not a lung. */
const MIN_SECOND_LUNG_SHARE = 0.15;
/** Largest erosion tried to split lungs that touch at the anterior or posterior junction, in mm. */
const MAX_SPLIT_EROSION_MM = 30;
/**
 * Two eroded cores count as left and right lung when their centroids are this far apart in x, in
 * mm.
 */
const MIN_CORE_SEPARATION_MM = 40;

/** Method that separated the two lungs, for logs and tests. */
export type SeparationMethod = 'components' | 'erosion' | 'single-lung';

/**
 * Splits a lung mask (airway already removed) into right and left lung labels.
 *
 * The two largest 6-connected components are the lungs when the smaller contains at least 15 % of
 * the larger. Otherwise the largest component is eroded in steps of one voxel until it falls
 * into two cores whose centroids are at least 40 mm apart in x. Every voxel then goes to the
 * core it reaches first by a breadth-first search inside the mask. The lung with the smaller mean x is
 * the right lung, because LPS x grows towards the patient's left. A lone lung is labelled by the
 * side of `midlineI` (a working-grid i index) it lies on. Smaller components are dropped.
 */
export function separateLungs(
  mask: Uint8Array,
  size: Size3,
  spacingMm: Spacing3,
  midlineI: number,
): { labels: Uint8Array; method: SeparationMethod } {
  const components = connectedComponents(mask, size);
  const order = componentsBySize(components);
  const labels = new Uint8Array(mask.length);
  if (order.length === 0) return { labels, method: 'single-lung' };
  const largest = order[0];
  const second = order[1];
  if (
    second &&
    components.sizes[second - 1] >= MIN_SECOND_LUNG_SHARE * components.sizes[largest - 1]
  ) {
    const parts = new Int32Array(mask.length);
    for (let n = 0; n < mask.length; n++) {
      const c = components.labels[n];
      if (c === largest) parts[n] = 1;
      else if (c === second) parts[n] = 2;
    }
    assignSides(parts, size, midlineI, labels);
    return { labels, method: 'components' };
  }

  const single = new Uint8Array(mask.length);
  for (let n = 0; n < mask.length; n++) single[n] = components.labels[n] === largest ? 1 : 0;
  const parts = splitByErosion(single, size, spacingMm);
  assignSides(parts ?? Int32Array.from(single), size, midlineI, labels);
  return { labels, method: parts ? 'erosion' : 'single-lung' };
}

/** Splits one component into two parts (1 and 2), or returns undefined if no erosion splits it. */
function splitByErosion(
  mask: Uint8Array,
  size: Size3,
  spacingMm: Spacing3,
): Int32Array | undefined {
  const box = boundingBox(mask, size, 1, 1);
  if (!box) return undefined;
  const local = cropToBox(mask, size, box);
  const localSize = boxSize(box);
  const distance = squaredDistanceToBackground(local, localSize, spacingMm);
  const step = Math.min(...spacingMm);
  for (let radius = step; radius <= MAX_SPLIT_EROSION_MM; radius += step) {
    const core = new Uint8Array(local.length);
    for (let n = 0; n < local.length; n++) core[n] = distance[n] > radius * radius ? 1 : 0;
    const components = connectedComponents(core, localSize);
    const order = componentsBySize(components);
    if (order.length < 2) {
      if (order.length === 0) return undefined;
      continue;
    }
    const [a, b] = order;
    if (components.sizes[b - 1] < 0.1 * components.sizes[a - 1]) continue;
    const centreA = meanI(components.labels, localSize, a);
    const centreB = meanI(components.labels, localSize, b);
    if (Math.abs(centreA - centreB) * spacingMm[0] < MIN_CORE_SEPARATION_MM) continue;
    const seeds = new Int32Array(local.length);
    for (let n = 0; n < local.length; n++) {
      const c = components.labels[n];
      if (c === a) seeds[n] = 1;
      else if (c === b) seeds[n] = 2;
    }
    growSeeds(seeds, local, localSize);
    const parts = new Int32Array(mask.length);
    forEachInBox(size, box, (m, n) => (parts[n] = seeds[m]));
    return parts;
  }
  return undefined;
}

/** Grows labelled seeds through `mask` breadth-first, so each voxel joins the nearest seed. */
function growSeeds(seeds: Int32Array, mask: Uint8Array, size: Size3): void {
  const [n0, n1, n2] = size;
  const plane = n0 * n1;
  const queue = new Int32Array(mask.length);
  let tail = 0;
  for (let n = 0; n < seeds.length; n++) if (seeds[n]) queue[tail++] = n;
  for (let head = 0; head < tail; head++) {
    const n = queue[head];
    const label = seeds[n];
    const i = n % n0;
    const j = ((n / n0) | 0) % n1;
    const k = (n / plane) | 0;
    const visit = (m: number) => {
      if (mask[m] && !seeds[m]) {
        seeds[m] = label;
        queue[tail++] = m;
      }
    };
    if (i > 0) visit(n - 1);
    if (i < n0 - 1) visit(n + 1);
    if (j > 0) visit(n - n0);
    if (j < n1 - 1) visit(n + n0);
    if (k > 0) visit(n - plane);
    if (k < n2 - 1) visit(n + plane);
  }
}

function meanI(labels: Int32Array, size: Size3, label: number): number {
  let sum = 0;
  let count = 0;
  for (let n = 0; n < labels.length; n++) {
    if (labels[n] === label) {
      sum += n % size[0];
      count++;
    }
  }
  return count ? sum / count : Number.NaN;
}

/** Writes right/left lung labels for parts 1 and 2 (part 2 may be absent). */
function assignSides(parts: Int32Array, size: Size3, midlineI: number, labels: Uint8Array): void {
  const centre1 = meanI(parts, size, 1);
  const centre2 = meanI(parts, size, 2);
  let rightPart: number;
  if (Number.isNaN(centre2)) rightPart = centre1 < midlineI ? 1 : 2;
  else rightPart = centre1 < centre2 ? 1 : 2;
  for (let n = 0; n < parts.length; n++) {
    if (!parts[n]) continue;
    labels[n] = parts[n] === rightPart ? LUNG_LABELS.right : LUNG_LABELS.left;
  }
}
