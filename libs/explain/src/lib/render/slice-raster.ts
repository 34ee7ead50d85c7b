import { colormapEntry } from './colormap.ts';
import type { ColourScale } from './colour-scale.ts';
import type { CheckedOverlayInput } from './overlay-checks.ts';
import type { IndexBox, SliceChoice } from './slice-selection.ts';

/**
 * Mapping from a panel's pixels to voxel coordinates. Columns run along i, so the patient's right
 * (low i in LPS) is on the image's left as radiological convention has it. Axial rows run along
 * j, anterior at the top. Coronal rows run along k reversed, superior at the top.
 */
export interface PanelSampling {
  widthPx: number;
  heightPx: number;
  /** Continuous i at the centre of pixel column 0, and its change per pixel. */
  column0: number;
  columnStep: number;
  /** Continuous row-axis index (j or k) at the centre of pixel row 0, and its change per pixel. */
  row0: number;
  rowStep: number;
  /** Voxels along the row axis, and the stride between neighbours along it in `data`. */
  rowCount: number;
  rowStride: number;
  /** Offset in `data` of voxel (0, 0) of the slice. */
  sliceOffset: number;
}

/**
 * Builds the sampling of one panel. All panels share `mmPerPixel` so that both axes keep their
 * physical aspect ratio and the views share one scale.
 */
export function panelSampling(
  input: CheckedOverlayInput,
  slice: SliceChoice,
  crop: IndexBox,
  mmPerPixel: number,
): PanelSampling {
  const [nx, ny] = input.ct.size;
  const spacing = input.ct.spacingMm;
  const rowAxis = slice.view === 'axial' ? 1 : 2;
  const widthVoxels = crop.max[0] - crop.min[0] + 1;
  const heightVoxels = crop.max[rowAxis] - crop.min[rowAxis] + 1;
  const columnStep = mmPerPixel / spacing[0];
  const rowSpeed = mmPerPixel / spacing[rowAxis];
  // Pixel centres start half a pixel inside the crop's outer voxel edge.
  const column0 = crop.min[0] - 0.5 + columnStep / 2;
  const axial = slice.view === 'axial';
  return {
    widthPx: Math.max(1, Math.round((widthVoxels * spacing[0]) / mmPerPixel)),
    heightPx: Math.max(1, Math.round((heightVoxels * spacing[rowAxis]) / mmPerPixel)),
    column0,
    columnStep,
    row0: axial ? crop.min[1] - 0.5 + rowSpeed / 2 : crop.max[2] + 0.5 - rowSpeed / 2,
    rowStep: axial ? rowSpeed : -rowSpeed,
    rowCount: input.ct.size[rowAxis],
    rowStride: axial ? nx : nx * ny,
    sliceOffset: axial ? slice.index * nx * ny : slice.index * nx,
  };
}

function clampIndex(value: number, count: number): number {
  if (value < 0) return 0;
  if (value >= count) return count - 1;
  return value;
}

/** Returns the `data` index of the voxel nearest to the centre of pixel (x, y). */
export function nearestVoxel(
  sampling: PanelSampling,
  columnCount: number,
  x: number,
  y: number,
): number {
  const column = clampIndex(Math.round(sampling.column0 + x * sampling.columnStep), columnCount);
  const row = clampIndex(Math.round(sampling.row0 + y * sampling.rowStep), sampling.rowCount);
  return sampling.sliceOffset + column + row * sampling.rowStride;
}

/** Bilinear interpolation weights and the four `data` indices around a pixel centre. */
interface Bilinear {
  indices: [number, number, number, number];
  weights: [number, number, number, number];
}

function bilinear(sampling: PanelSampling, columnCount: number, x: number, y: number): Bilinear {
  const column = sampling.column0 + x * sampling.columnStep;
  const row = sampling.row0 + y * sampling.rowStep;
  const c0 = Math.floor(column);
  const r0 = Math.floor(row);
  const fc = column - c0;
  const fr = row - r0;
  const ca = clampIndex(c0, columnCount);
  const cb = clampIndex(c0 + 1, columnCount);
  const ra = sampling.sliceOffset + clampIndex(r0, sampling.rowCount) * sampling.rowStride;
  const rb = sampling.sliceOffset + clampIndex(r0 + 1, sampling.rowCount) * sampling.rowStride;
  return {
    indices: [ra + ca, ra + cb, rb + ca, rb + cb],
    weights: [(1 - fc) * (1 - fr), fc * (1 - fr), (1 - fc) * fr, fc * fr],
  };
}

/**
 * Renders one panel as RGBA: the CT in grey through the HU window, with the map blended on top
 * where it is positive. The overlay's opacity rises linearly from 0 at a value of 0 to
 * `alphaMax` at the top of the colour range. With a lung mask only pixels whose nearest voxel is
 * lung get colour, and map voxels outside the mask count as 0 in the interpolation.
 */
export function rasterizePanel(
  input: CheckedOverlayInput,
  sampling: PanelSampling,
  scale: ColourScale,
  colormapTable: Uint8Array,
): Uint8ClampedArray {
  const { data: hu, size } = input.ct;
  const { map, lungMask, alphaMax } = input;
  const windowLow = input.window.center - input.window.width / 2;
  const pixels = new Uint8ClampedArray(4 * sampling.widthPx * sampling.heightPx);
  const valueToFraction = scale.max > 0 ? scale.displayFactor / scale.max : 0;

  for (let y = 0; y < sampling.heightPx; y++) {
    for (let x = 0; x < sampling.widthPx; x++) {
      const { indices, weights } = bilinear(sampling, size[0], x, y);
      let ctValue = 0;
      let mapValue = 0;
      for (let corner = 0; corner < 4; corner++) {
        const n = indices[corner];
        ctValue += weights[corner] * hu[n];
        if (!lungMask || lungMask[n] !== 0) mapValue += weights[corner] * map[n];
      }
      const grey = (255 * (ctValue - windowLow)) / input.window.width;
      let red = grey;
      let green = grey;
      let blue = grey;

      const inLung = !lungMask || lungMask[nearestVoxel(sampling, size[0], x, y)] !== 0;
      const fraction = mapValue * valueToFraction;
      if (inLung && fraction > 0) {
        const alpha = alphaMax * Math.min(1, fraction);
        const entry = 3 * colormapEntry(fraction);
        const clampedGrey = Math.min(255, Math.max(0, grey));
        red = clampedGrey * (1 - alpha) + colormapTable[entry] * alpha;
        green = clampedGrey * (1 - alpha) + colormapTable[entry + 1] * alpha;
        blue = clampedGrey * (1 - alpha) + colormapTable[entry + 2] * alpha;
      }
      const offset = 4 * (y * sampling.widthPx + x);
      pixels[offset] = red;
      pixels[offset + 1] = green;
      pixels[offset + 2] = blue;
      pixels[offset + 3] = 255;
    }
  }
  return pixels;
}
