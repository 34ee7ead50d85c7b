import type { Volume } from '../volume.ts';
import {
  boundingBox,
  boxSize,
  cropToBox,
  dilate,
  forEachInBox,
  type Size3,
  type Spacing3,
} from './morphology.ts';

/** Cross-section of a trachea candidate in one axial slice, in mm². */
const TRACHEA_AREA_MM2 = { min: 40, max: 700 };
/** How far the trachea seed may sit from the left-right centre of the air in its slice, in mm. */
const TRACHEA_MAX_OFFSET_MM = 40;
/** How far below the top of the air the search for the trachea goes, in mm. */
const TRACHEA_SEARCH_DEPTH_MM = 40;
/**
 * A branch whose cross-section grows beyond this many times its previous area has entered the lung.
 */
const MAX_AREA_GROWTH = 3;
/** Cross-sections are allowed to reach this area before the growth check applies, in mm². */
const AREA_GROWTH_ALLOWANCE_MM2 = 120;
/**
 * A single airway cross-section larger than this is lung, in mm² (both main bronchi together stay
 * below).
 */
const MAX_CROSS_SECTION_MM2 = 1200;

/** Lumen thresholds tried for slice tracing, in HU; the one that traces the most airway wins. */
const LUMEN_THRESHOLDS_HU = [-400, -500, -600, -700, -800];
/** How far the airway grows in 3-D beyond the traced slices, in mm. */
const BRONCHUS_GROWTH_MM = 40;
/**
 * Lumen thresholds of the 3-D growth, in HU. Parenchyma lies near -850, so the lenient ones
 * follow partial-volume bronchi on coarse scans but leak sooner, and the leak guard of
 * `growIntoBronchi` stops them. The union of all growths is kept.
 */
const BRONCHUS_THRESHOLDS_HU = [-700, -750, -800, -850, -900];
/**
 * Largest airway volume removed from the lungs, in mL. Trachea and main bronchi contain about
 * 40 mL in adults and all conducting airways about 150 mL, so this bounds how much lung a leak
 * can take.
 */
const MAX_AIRWAY_VOLUME_ML = 120;
/** A bronchus-growth layer above this multiple of the narrowest layer so far is a leak. */
const LEAK_GROWTH = 2;
/** Layers may exceed `LEAK_GROWTH` times the narrowest layer by this many voxels. */
const LEAK_SLACK_VOXELS = 20;
/**
 * After a leak, up to `LEAK_KEEP_LAYERS` layers that follow the narrowest one are kept while they
 * stay within this multiple of it, because such a layer is still one bronchus cross-section (cut
 * obliquely or at a branching). The first wider layer and all later ones are dropped.
 */
const LEAK_KEEP_GROWTH = 1.5;
/** Most layers kept after the narrowest one when a leak is found. */
const LEAK_KEEP_LAYERS = 2;

/** Trachea and main bronchi found by `traceAirway`. */
export interface AirwayTrace {
  mask: Uint8Array;
  volumeMl: number;
  /** Lumen threshold that traced the most airway, in HU. */
  lumenThresholdHu: number;
  /** Working-grid slice (k) of the trachea seed. */
  seedSlice: number;
}

/**
 * Traces the trachea and main bronchi inside `air` (air inside the body, lungs included).
 *
 * The seed is the topmost air region in an axial slice whose area fits a trachea and that lies
 * near the left-right centre of the air. The airway then grows slice by slice through lumen
 * voxels (air below a lumen threshold), upwards and downwards (`traceSlices`). Each threshold of
 * `LUMEN_THRESHOLDS_HU` is tried and the largest trace kept, because on coarse scans the blurred
 * airway wall only separates lumen from lung at a strict threshold. Finally a breadth-first growth
 * in 3-D follows the main bronchi, which run almost horizontally and escape slice tracing, for up
 * to `BRONCHUS_GROWTH_MM` (`growIntoBronchi`), once per threshold of `BRONCHUS_THRESHOLDS_HU` no
 * more lenient than the tracing one.
 * Returns undefined when no trachea is found (for example a scan that starts below the carina).
 */
export function traceAirway(volume: Volume, air: Uint8Array): AirwayTrace | undefined {
  const seed = findTracheaSeed(volume, air);
  if (!seed) return undefined;
  let best: { voxels: number[]; thresholdHu: number } | undefined;
  for (const thresholdHu of LUMEN_THRESHOLDS_HU) {
    const voxels = traceSlices(volume, lumenTest(volume, air, thresholdHu), seed);
    if (!best || voxels.length > best.voxels.length) best = { voxels, thresholdHu };
  }
  const trace = best!;

  const mask = new Uint8Array(air.length);
  for (const n of trace.voxels) mask[n] = 1;
  const voxelMl = (volume.spacingMm[0] * volume.spacingMm[1] * volume.spacingMm[2]) / 1000;
  const budget = Math.max(0, Math.floor(MAX_AIRWAY_VOLUME_ML / voxelMl) - trace.voxels.length);

  const grown = Uint8Array.from(mask);
  let count = trace.voxels.length;
  // Each threshold grows from the traced voxels alone. `candidate` starts as a copy of `mask`
  // and is restored after each growth by clearing the voxels it added, instead of copying the
  // whole volume again.
  const candidate = Uint8Array.from(mask);
  for (const thresholdHu of BRONCHUS_THRESHOLDS_HU) {
    if (thresholdHu > trace.thresholdHu) continue;
    const isBronchusLumen = lumenTest(volume, air, thresholdHu);
    const frontier = trace.voxels.filter((n) =>
      touchesOutsideLumen(n, volume.size, isBronchusLumen, candidate),
    );
    const budgetLeft = budget - (count - trace.voxels.length);
    const added = growIntoBronchi(volume, isBronchusLumen, candidate, frontier, budgetLeft);
    for (const n of added) {
      if (!grown[n]) {
        grown[n] = 1;
        count++;
      }
      candidate[n] = 0;
    }
  }

  return {
    mask: grown,
    volumeMl: count * voxelMl,
    lumenThresholdHu: trace.thresholdHu,
    seedSlice: seed.slice,
  };
}

/** Returns whether voxel `n` is lumen: air below `thresholdHu`. */
function lumenTest(volume: Volume, air: Uint8Array, thresholdHu: number): (n: number) => boolean {
  const data = volume.data;
  return (n) => air[n] === 1 && data[n] < thresholdHu;
}

/**
 * Grows the airway slice by slice through lumen voxels and returns its voxels. A lumen region of
 * the next slice joins when it touches the current cross-section (with one voxel of in-plane
 * tolerance for oblique bronchi) and passes the leak guard of `airwayPart`, so tracing stops where
 * a bronchus opens into the lung.
 */
function traceSlices(
  volume: Volume,
  isLumen: (n: number) => boolean,
  seed: { voxels: number[]; slice: number },
): number[] {
  const [n0, n1, n2] = volume.size;
  const plane = n0 * n1;
  const pixelMm2 = volume.spacingMm[0] * volume.spacingMm[1];
  const voxels = [...seed.voxels];
  const sliceLabels = new Int32Array(plane);
  const queue = new Int32Array(plane);
  for (const direction of [-1, 1]) {
    let current = seed.voxels.map((n) => n - seed.slice * plane);
    for (let k = seed.slice + direction; k >= 0 && k < n2 && current.length; k += direction) {
      const base = k * plane;
      sliceLabels.fill(0);
      const next: number[] = [];
      let label = 0;
      for (const p of current) {
        for (const q of neighbourhood(p, n0, n1)) {
          if (!isLumen(base + q) || sliceLabels[q]) continue;
          label++;
          const region = floodSlice(isLumen, base, n0, plane, q, label, sliceLabels, queue);
          for (const r of airwayPart(region, current, n0, n1, pixelMm2)) next.push(r);
        }
      }
      for (const p of next) voxels.push(base + p);
      current = next;
    }
  }
  return voxels;
}

/**
 * Extends `mask` in place by a 6-connected breadth-first search through lumen voxels, starting
 * from `start` (traced voxels next to untraced lumen), one layer per step, for at most
 * `BRONCHUS_GROWTH_MM` and at most `budget` voxels. Returns the voxels added, which are the
 * only ones of `mask` it changes (to 1).
 *
 * Inside a bronchus each layer is one cross-section, so layer sizes stay near the narrowest one
 * and at most double per branching. Once the front escapes into parenchyma (which passes the
 * lumen test), the layers are shells of an L1 ball that widen step after step. A layer larger
 * than `LEAK_GROWTH` times the narrowest layer so far (plus `LEAK_SLACK_VOXELS`) marks such a
 * leak. Growth then stops and all layers are dropped except those up to the narrowest and at most
 * `LEAK_KEEP_LAYERS` after it that stay within `LEAK_KEEP_GROWTH` times its size, so the leak does
 * not cut a diamond-shaped piece out of the lung. NOTE: those kept layers may already lie in
 * parenchyma, so up to `LEAK_KEEP_LAYERS` voxels of lung beyond a bronchus end can be removed.
 */
function growIntoBronchi(
  volume: Volume,
  isLumen: (n: number) => boolean,
  mask: Uint8Array,
  start: number[],
  budget: number,
): number[] {
  const [n0, n1, n2] = volume.size;
  const plane = n0 * n1;
  let front = start;
  const layers: number[][] = [];
  let narrowestSize = front.length;
  let narrowestIndex = -1;
  let added = 0;
  const steps = Math.round(BRONCHUS_GROWTH_MM / Math.min(...volume.spacingMm));
  for (let step = 0; step < steps && front.length; step++) {
    const layer: number[] = [];
    for (const n of front) {
      const i = n % n0;
      const j = ((n / n0) | 0) % n1;
      const k = (n / plane) | 0;
      if (i > 0) visitLumen(n - 1, isLumen, mask, layer);
      if (i < n0 - 1) visitLumen(n + 1, isLumen, mask, layer);
      if (j > 0) visitLumen(n - n0, isLumen, mask, layer);
      if (j < n1 - 1) visitLumen(n + n0, isLumen, mask, layer);
      if (k > 0) visitLumen(n - plane, isLumen, mask, layer);
      if (k < n2 - 1) visitLumen(n + plane, isLumen, mask, layer);
    }
    const leaks = layer.length > LEAK_GROWTH * narrowestSize + LEAK_SLACK_VOXELS;
    if (leaks || added + layer.length > budget) {
      for (const m of layer) mask[m] = 0;
      if (leaks) {
        let keep = narrowestIndex + 1;
        const lastKept = narrowestIndex + LEAK_KEEP_LAYERS;
        while (
          keep <= lastKept &&
          keep < layers.length &&
          layers[keep].length <= LEAK_KEEP_GROWTH * narrowestSize
        ) {
          keep++;
        }
        for (let l = keep; l < layers.length; l++) {
          for (const m of layers[l]) mask[m] = 0;
          added -= layers[l].length;
        }
        layers.length = Math.min(layers.length, keep);
      }
      break;
    }
    for (const m of layer) mask[m] = 1;
    added += layer.length;
    layers.push(layer);
    if (layer.length && layer.length <= narrowestSize) {
      narrowestSize = layer.length;
      narrowestIndex = layers.length - 1;
    }
    front = layer;
  }
  return layers.flat();
}

/** Marks lumen voxel `m` as grown (2) and appends it to `layer` unless it is already in `mask`. */
function visitLumen(
  m: number,
  isLumen: (n: number) => boolean,
  mask: Uint8Array,
  layer: number[],
): void {
  if (mask[m] === 0 && isLumen(m)) {
    mask[m] = 2;
    layer.push(m);
  }
}

/** Returns whether voxel `n` has a 6-neighbour that is lumen and not yet in `mask`. */
function touchesOutsideLumen(
  n: number,
  size: [number, number, number],
  isLumen: (m: number) => boolean,
  mask: Uint8Array,
): boolean {
  const [n0, n1, n2] = size;
  const plane = n0 * n1;
  const i = n % n0;
  const j = ((n / n0) | 0) % n1;
  const k = (n / plane) | 0;
  const open = (m: number) => mask[m] === 0 && isLumen(m);
  return (
    (i > 0 && open(n - 1)) ||
    (i < n0 - 1 && open(n + 1)) ||
    (j > 0 && open(n - n0)) ||
    (j < n1 - 1 && open(n + n0)) ||
    (k > 0 && open(n - plane)) ||
    (k < n2 - 1 && open(n + plane))
  );
}

/**
 * Returns the part of an air region of the next slice that continues the airway. A region that
 * fails the leak guard is eroded in-plane by one, then two voxels, because at coarse resolution the
 * airway wall blurs and the lumen touches the lung. Eroded pieces that touch the current
 * cross-section and pass the guard are dilated back inside the region. Returns an empty list when
 * no piece passes, which ends the branch.
 */
function airwayPart(
  region: number[],
  current: number[],
  n0: number,
  n1: number,
  pixelMm2: number,
): number[] {
  const passes = (piece: number[]) => {
    const areaMm2 = piece.length * pixelMm2;
    const parentMm2 = overlapArea(piece, current, n0, n1) * pixelMm2;
    return (
      parentMm2 > 0 &&
      areaMm2 <= MAX_CROSS_SECTION_MM2 &&
      areaMm2 <= MAX_AREA_GROWTH * parentMm2 + AREA_GROWTH_ALLOWANCE_MM2
    );
  };
  if (passes(region)) return region;
  const inRegion = new Set(region);
  let eroded = region;
  for (let steps = 1; steps <= 2; steps++) {
    const survivors = new Set(eroded);
    eroded = eroded.filter((p) => fourNeighbours(p, n0, n1).every((q) => survivors.has(q)));
    const passingPieces: number[] = [];
    for (const piece of splitIntoPieces(eroded, n0, n1))
      if (passes(piece)) passingPieces.push(...piece);
    if (passingPieces.length) return dilateWithin(passingPieces, inRegion, steps, n0, n1);
  }
  return [];
}

function fourNeighbours(p: number, n0: number, n1: number): number[] {
  const i = p % n0;
  const out: number[] = [];
  if (i > 0) out.push(p - 1);
  if (i < n0 - 1) out.push(p + 1);
  if (p >= n0) out.push(p - n0);
  if (p < n0 * (n1 - 1)) out.push(p + n0);
  return out;
}

/** Splits a pixel list into its 4-connected pieces. */
function splitIntoPieces(pixels: number[], n0: number, n1: number): number[][] {
  const unvisited = new Set(pixels);
  const pieces: number[][] = [];
  for (const start of pixels) {
    if (!unvisited.delete(start)) continue;
    const piece = [start];
    for (let head = 0; head < piece.length; head++) {
      for (const q of fourNeighbours(piece[head], n0, n1)) if (unvisited.delete(q)) piece.push(q);
    }
    pieces.push(piece);
  }
  return pieces;
}

/** Grows `pixels` by `steps` 4-connected layers without leaving `allowed`. */
function dilateWithin(
  pixels: number[],
  allowed: Set<number>,
  steps: number,
  n0: number,
  n1: number,
): number[] {
  const grown = new Set(pixels);
  let front = pixels;
  for (let step = 0; step < steps; step++) {
    const next: number[] = [];
    for (const p of front) {
      for (const q of fourNeighbours(p, n0, n1)) {
        if (allowed.has(q) && !grown.has(q)) {
          grown.add(q);
          next.push(q);
        }
      }
    }
    front = next;
  }
  return Array.from(grown);
}

/** Returns the in-plane pixel and its 8 neighbours that lie inside the slice. */
function neighbourhood(p: number, n0: number, n1: number): number[] {
  const i = p % n0;
  const j = (p / n0) | 0;
  const out: number[] = [];
  for (let dj = -1; dj <= 1; dj++) {
    for (let di = -1; di <= 1; di++) {
      const ii = i + di;
      const jj = j + dj;
      if (ii >= 0 && jj >= 0 && ii < n0 && jj < n1) out.push(ii + jj * n0);
    }
  }
  return out;
}

/**
 * Counts the pixels of `current` (previous cross-section) that touch `region`, with the same
 * tolerance.
 */
function overlapArea(region: number[], current: number[], n0: number, n1: number): number {
  const inRegion = new Set(region);
  let touching = 0;
  for (const p of current) if (neighbourhood(p, n0, n1).some((q) => inRegion.has(q))) touching++;
  return touching;
}

/** Returns the voxels of the trachea cross-section used as seed, or undefined. */
function findTracheaSeed(
  volume: Volume,
  air: Uint8Array,
): { voxels: number[]; slice: number } | undefined {
  const [n0, n1, n2] = volume.size;
  const plane = n0 * n1;
  const pixelMm2 = volume.spacingMm[0] * volume.spacingMm[1];
  let top = -1;
  for (let k = n2 - 1; k >= 0 && top < 0; k--) {
    for (let p = 0; p < plane; p++) if (air[k * plane + p]) ((top = k), (p = plane));
  }
  if (top < 0) return undefined;
  const depth = Math.round(TRACHEA_SEARCH_DEPTH_MM / volume.spacingMm[2]);
  const labels = new Int32Array(plane);
  const queue = new Int32Array(plane);
  for (let k = top; k >= Math.max(0, top - depth); k--) {
    const base = k * plane;
    labels.fill(0);
    let centreSum = 0;
    let airCount = 0;
    for (let p = 0; p < plane; p++) if (air[base + p]) ((centreSum += p % n0), airCount++);
    const centreI = centreSum / airCount;
    let best: number[] | undefined;
    let bestOffset = Infinity;
    let label = 0;
    for (let start = 0; start < plane; start++) {
      if (!air[base + start] || labels[start]) continue;
      label++;
      const region = floodSlice((n) => air[n] === 1, base, n0, plane, start, label, labels, queue);
      const areaMm2 = region.length * pixelMm2;
      if (areaMm2 < TRACHEA_AREA_MM2.min || areaMm2 > TRACHEA_AREA_MM2.max) continue;
      const meanI = region.reduce((sum, p) => sum + (p % n0), 0) / region.length;
      const offsetMm = Math.abs(meanI - centreI) * volume.spacingMm[0];
      if (offsetMm <= TRACHEA_MAX_OFFSET_MM && offsetMm < bestOffset) {
        bestOffset = offsetMm;
        best = region.map((p) => base + p);
      }
    }
    if (best) return { voxels: best, slice: k };
  }
  return undefined;
}

function floodSlice(
  isAir: (n: number) => boolean,
  base: number,
  n0: number,
  plane: number,
  start: number,
  label: number,
  labels: Int32Array,
  queue: Int32Array,
): number[] {
  let tail = 0;
  labels[start] = label;
  queue[tail++] = start;
  const visit = (p: number) => {
    if (!labels[p] && isAir(base + p)) {
      labels[p] = label;
      queue[tail++] = p;
    }
  };
  for (let head = 0; head < tail; head++) {
    const p = queue[head];
    const i = p % n0;
    if (i > 0) visit(p - 1);
    if (i < n0 - 1) visit(p + 1);
    if (p >= n0) visit(p - n0);
    if (p < plane - n0) visit(p + n0);
  }
  return Array.from(queue.subarray(0, tail));
}

/**
 * Returns the airway `mask` dilated by a Euclidean ball of `radiusMm`: the lumen plus the
 * partial-volume voxels of its wall, which the lung mask must not contain. A ball follows the
 * airway wall at the same distance in every direction, where repeated face-neighbour dilation
 * would cut diamond-shaped notches into the lung.
 */
export function widenAirway(
  mask: Uint8Array,
  size: Size3,
  spacingMm: Spacing3,
  radiusMm: number,
): Uint8Array {
  const out = new Uint8Array(mask.length);
  const margin = Math.ceil(radiusMm / Math.min(...spacingMm)) + 1;
  const box = boundingBox(mask, size, 1, margin);
  if (!box) return out;
  const widened = dilate(cropToBox(mask, size, box), boxSize(box), spacingMm, radiusMm);
  forEachInBox(size, box, (m, n) => (out[n] = widened[m]));
  return out;
}
