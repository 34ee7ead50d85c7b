import type { Volume } from '../volume.ts';

/**
 * Marks, slice by slice, the voxels enclosed by the body: everything that air outside the body
 * cannot reach. Outside air is flooded (4-connected, through voxels at most `tissueThresholdHu`)
 * from the slice edge and from every voxel outside the field of view.
 *
 * A lung cut by the image edge would let the flood in. So a run of non-tissue voxels along the
 * slice edge that lies between two tissue voxels on the same edge is treated as a cut through the
 * body and blocks the flood. Runs that reach an image corner stay open, because outside air at
 * the front and back of a patient wider than the field of view reaches the corners.
 *
 * NOTE: a lung cut by two image edges at once (at a corner), or clipped by a round field of view,
 * is flooded in those slices and lost.
 */
export function bodyInterior(
  volume: Volume,
  fovMask: Uint8Array,
  tissueThresholdHu: number,
): Uint8Array {
  const masks: BodyAndAirMasks = {
    size: volume.size,
    data: volume.data,
    fovMask,
    tissueThresholdHu,
    interior: new Uint8Array(volume.data.length),
  };
  new BodyInteriorSlices(masks).processSlices(0, volume.size[2]);
  return masks.interior;
}

/**
 * Inputs and outputs of `BodyInteriorSlices`. The arrays may be backed by `SharedArrayBuffer`s
 * so that several threads fill disjoint slices.
 */
export interface BodyAndAirMasks {
  size: [number, number, number];
  /** HU of the volume. */
  data: Int16Array;
  fovMask: Uint8Array;
  tissueThresholdHu: number;
  /** Output, zero-filled: 1 inside the body, as `bodyInterior` returns it. */
  interior: Uint8Array;
  /**
   * Optional output: `mask` becomes 1 where a voxel is inside the body and the field of view and
   * below `thresholdHu`, 0 elsewhere.
   */
  air?: { mask: Uint8Array; thresholdHu: number };
}

/** Computes `bodyInterior` (and the air inside it) for any range of axial slices. */
export class BodyInteriorSlices {
  private readonly masks: BodyAndAirMasks;
  private readonly tissue: Uint8Array;
  private readonly blocked: Uint8Array;
  /** Per voxel of a slice: FREE, WALL (tissue or a blocked edge run) or OUTSIDE (flooded). */
  private readonly state: Uint8Array;
  private readonly queue: Int32Array;
  private readonly perimeter: Int32Array;

  constructor(masks: BodyAndAirMasks) {
    const [n0, n1] = masks.size;
    const plane = n0 * n1;
    this.masks = masks;
    this.tissue = new Uint8Array(plane);
    this.blocked = new Uint8Array(plane);
    this.state = new Uint8Array(plane);
    this.queue = new Int32Array(plane);
    this.perimeter = slicePerimeter(n0, n1);
  }

  /** Writes slices `first` to `end - 1` of the outputs. */
  processSlices(first: number, end: number): void {
    const { size, data, fovMask, tissueThresholdHu, interior, air } = this.masks;
    const [n0, n1] = size;
    const plane = n0 * n1;
    const { tissue, blocked, state, queue, perimeter } = this;
    const isTissue = (p: number) => tissue[p] === 1;

    for (let k = first; k < end; k++) {
      const base = k * plane;
      for (let p = 0; p < plane; p++) {
        tissue[p] = fovMask[base + p] === 1 && data[base + p] > tissueThresholdHu ? 1 : 0;
      }
      blocked.fill(0);
      markEdgeCuts(perimeter, n0, n1, isTissue, blocked);
      for (let p = 0; p < plane; p++) state[p] = tissue[p] | blocked[p] ? WALL : FREE;

      let tail = 0;
      for (const p of perimeter) {
        if (state[p] === FREE) ((state[p] = OUTSIDE), (queue[tail++] = p));
      }
      for (let p = 0; p < plane; p++) {
        if (!fovMask[base + p] && state[p] === FREE) ((state[p] = OUTSIDE), (queue[tail++] = p));
      }
      for (let head = 0; head < tail; head++) {
        const p = queue[head];
        const i = p % n0;
        if (i > 0 && state[p - 1] === FREE) ((state[p - 1] = OUTSIDE), (queue[tail++] = p - 1));
        if (i < n0 - 1 && state[p + 1] === FREE)
          ((state[p + 1] = OUTSIDE), (queue[tail++] = p + 1));
        if (p >= n0 && state[p - n0] === FREE)
          ((state[p - n0] = OUTSIDE), (queue[tail++] = p - n0));
        if (p < plane - n0 && state[p + n0] === FREE)
          ((state[p + n0] = OUTSIDE), (queue[tail++] = p + n0));
      }
      for (let p = 0; p < plane; p++) if (state[p] !== OUTSIDE) interior[base + p] = 1;
      if (air !== undefined) this.markAir(base, plane, air);
    }
  }

  private markAir(base: number, plane: number, air: NonNullable<BodyAndAirMasks['air']>): void {
    const { data, fovMask, interior } = this.masks;
    const { mask, thresholdHu } = air;
    for (let n = base; n < base + plane; n++) {
      mask[n] = interior[n] && fovMask[n] && data[n] < thresholdHu ? 1 : 0;
    }
  }
}

const FREE = 0;
const WALL = 1;
const OUTSIDE = 2;

/** Returns the slice-edge voxels in order around the slice, starting at the corner (0, 0). */
function slicePerimeter(n0: number, n1: number): Int32Array {
  const order: number[] = [];
  for (let i = 0; i < n0; i++) order.push(i);
  for (let j = 1; j < n1; j++) order.push(j * n0 + n0 - 1);
  for (let i = n0 - 2; i >= 0 && n1 > 1; i--) order.push((n1 - 1) * n0 + i);
  for (let j = n1 - 2; j > 0 && n0 > 1; j--) order.push(j * n0);
  return Int32Array.from(order);
}

/**
 * Sets `blocked` on edge runs of non-tissue that lie between tissue on one edge, corners excluded.
 */
function markEdgeCuts(
  perimeter: Int32Array,
  n0: number,
  n1: number,
  isTissue: (p: number) => boolean,
  blocked: Uint8Array,
): void {
  const length = perimeter.length;
  const firstTissue = perimeter.findIndex((p) => isTissue(p));
  if (firstTissue < 0) return;
  const isCorner = (p: number) =>
    (p % n0 === 0 || p % n0 === n0 - 1) && (p < n0 || p >= (n1 - 1) * n0);
  // Walk once around the perimeter starting at a tissue voxel, so every run is bounded.
  let runStart = -1;
  let runHasCorner = false;
  for (let step = 1; step <= length; step++) {
    const p = perimeter[(firstTissue + step) % length];
    if (!isTissue(p)) {
      if (runStart < 0) {
        runStart = step;
        runHasCorner = false;
      }
      runHasCorner ||= isCorner(p);
      continue;
    }
    if (runStart >= 0 && !runHasCorner) {
      for (let s = runStart; s < step; s++) blocked[perimeter[(firstTissue + s) % length]] = 1;
    }
    runStart = -1;
  }
}
