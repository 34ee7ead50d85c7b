import type { CheckedOverlayInput } from './overlay-checks.ts';

/** Inclusive voxel index ranges along i, j and k. */
export interface IndexBox {
  min: [number, number, number];
  max: [number, number, number];
}

export type PanelView = 'axial' | 'coronal';

/** One slice to draw: an axial slice at index k or a coronal slice at index j. */
export interface SliceChoice {
  view: PanelView;
  /** k for an axial slice, j for a coronal slice. */
  index: number;
  /** Panel caption, such as `'axial z = -123 mm'`. */
  label: string;
}

/** Returns the bounding box of the non-zero voxels of `values`, or undefined for none. */
export function boundingBox(
  size: readonly [number, number, number],
  values: Uint8Array | Float32Array,
): IndexBox | undefined {
  const [nx, ny, nz] = size;
  const min: [number, number, number] = [nx, ny, nz];
  const max: [number, number, number] = [-1, -1, -1];
  for (let k = 0; k < nz; k++) {
    for (let j = 0; j < ny; j++) {
      const rowStart = nx * (j + ny * k);
      let first = 0;
      while (first < nx && values[rowStart + first] === 0) first++;
      if (first === nx) continue;
      let last = nx - 1;
      while (values[rowStart + last] === 0) last--;
      min[0] = Math.min(min[0], first);
      max[0] = Math.max(max[0], last);
      min[1] = Math.min(min[1], j);
      max[1] = Math.max(max[1], j);
      min[2] = Math.min(min[2], k);
      max[2] = Math.max(max[2], k);
    }
  }
  return max[0] < 0 ? undefined : { min, max };
}

function wholeGrid(size: readonly [number, number, number]): IndexBox {
  return { min: [0, 0, 0], max: [size[0] - 1, size[1] - 1, size[2] - 1] };
}

/**
 * Returns the region the slices are spread over: the lung mask's bounding box, else the bounding
 * box of the non-zero map voxels, else the whole grid.
 */
export function sliceExtent(input: CheckedOverlayInput): IndexBox {
  const { size } = input.ct;
  const { lungMask, map } = input;
  return boundingBox(size, lungMask ?? map) ?? wholeGrid(size);
}

/**
 * Returns the region every panel shows: the lung mask's bounding box grown by `cropMarginMm` on
 * each side and clipped to the grid, or the whole grid without a mask.
 */
export function cropBox(input: CheckedOverlayInput, extent: IndexBox): IndexBox {
  const { size, spacingMm } = input.ct;
  if (!input.lungMask) return wholeGrid(size);
  const margin = spacingMm.map((spacing) => Math.round(input.cropMarginMm / spacing));
  return {
    min: extent.min.map((value, a) => Math.max(0, value - margin[a])) as IndexBox['min'],
    max: extent.max.map((value, a) => Math.min(size[a] - 1, value + margin[a])) as IndexBox['max'],
  };
}

/**
 * Returns `count` distinct indices evenly spaced over [low, high], at the centres of `count` equal
 * parts so that the thin ends of the lungs are skipped. Fewer come back when the range is narrower
 * than `count` voxels.
 */
export function evenlySpacedIndices(low: number, high: number, count: number): number[] {
  const indices: number[] = [];
  for (let m = 0; m < count; m++) {
    const index = Math.round(low + ((m + 0.5) / count) * (high - low));
    if (indices[indices.length - 1] !== index) indices.push(index);
  }
  return indices;
}

function sliceLabel(input: CheckedOverlayInput, view: PanelView, index: number): string {
  const axis = view === 'axial' ? 2 : 1;
  const { originMm, spacingMm, size } = input.ct;
  if (!originMm) return `${view} slice ${index + 1} of ${size[axis]}`;
  const position = originMm[axis] + index * spacingMm[axis];
  const name = view === 'axial' ? 'z' : 'y';
  return `${view} ${name} = ${Math.round(position)} mm`;
}

/**
 * Returns the axial index k and the coronal index j whose slices contain the largest sum of
 * positive map values (inside the lung mask when there is one), or undefined for a map with no
 * positive value.
 */
export function peakSliceIndices(input: CheckedOverlayInput): { k: number; j: number } | undefined {
  const [nx, ny, nz] = input.ct.size;
  const { map, lungMask } = input;
  const axialSums = new Float64Array(nz);
  const coronalSums = new Float64Array(ny);
  let n = 0;
  for (let k = 0; k < nz; k++) {
    for (let j = 0; j < ny; j++) {
      for (let i = 0; i < nx; i++, n++) {
        if (map[n] <= 0 || (lungMask && lungMask[n] === 0)) continue;
        axialSums[k] += map[n];
        coronalSums[j] += map[n];
      }
    }
  }
  const k = indexOfMax(axialSums);
  return axialSums[k] > 0 ? { k, j: indexOfMax(coronalSums) } : undefined;
}

function indexOfMax(values: Float64Array): number {
  let best = 0;
  for (let n = 1; n < values.length; n++) if (values[n] > values[best]) best = n;
  return best;
}

/** Replaces the index nearest to `peak` with it, which keeps sorted indices sorted. */
function includeIndex(indices: number[], peak: number): number[] {
  if (indices.length === 0 || indices.includes(peak)) return indices;
  let nearest = 0;
  for (let m = 1; m < indices.length; m++) {
    if (Math.abs(indices[m] - peak) < Math.abs(indices[nearest] - peak)) nearest = m;
  }
  const result = [...indices];
  result[nearest] = peak;
  return result;
}

/**
 * Chooses the slices to draw, evenly spaced over `extent`: axial slices from the apex down
 * (superior first) and coronal slices from front to back. With `showPeakSlices` the slice nearest
 * to the map's peak slice in each view is moved onto it, so a focal region between two evenly
 * spaced slices is still shown.
 */
export function chooseSlices(input: CheckedOverlayInput, extent: IndexBox): SliceChoice[] {
  let axial = evenlySpacedIndices(extent.min[2], extent.max[2], input.axialSlices);
  let coronal = evenlySpacedIndices(extent.min[1], extent.max[1], input.coronalSlices);
  const peak = input.showPeakSlices ? peakSliceIndices(input) : undefined;
  if (peak) {
    axial = includeIndex(axial, peak.k);
    coronal = includeIndex(coronal, peak.j);
  }
  axial.reverse();
  return [
    ...axial.map((index) => ({
      view: 'axial' as const,
      index,
      label: sliceLabel(input, 'axial', index),
    })),
    ...coronal.map((index) => ({
      view: 'coronal' as const,
      index,
      label: sliceLabel(input, 'coronal', index),
    })),
  ];
}
