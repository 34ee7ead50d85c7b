import type { CheckedOverlayInput } from './overlay-checks.ts';
import { panelSampling, type PanelSampling } from './slice-raster.ts';
import {
  chooseSlices,
  cropBox,
  sliceExtent,
  type IndexBox,
  type SliceChoice,
} from './slice-selection.ts';

/** Pixel sizes of the montage's fixed parts. */
export const LAYOUT = {
  margin: 16,
  gap: 10,
  titleHeight: 30,
  lineHeight: 18,
  labelStripHeight: 20,
  legendGap: 28,
  legendWidth: 210,
  minLegendHeight: 300,
} as const;

/** A panel and where it sits on the canvas, in pixels from the top-left corner. */
export interface PlacedPanel {
  slice: SliceChoice;
  sampling: PanelSampling;
  x: number;
  y: number;
}

/** Title, orientation note and footer, each wrapped to the montage width. */
export interface WrappedText {
  title: string[];
  note: string[];
  footer: string[];
}

/** Positions of everything drawn on the montage, in pixels. */
export interface OverlayLayout {
  width: number;
  height: number;
  text: WrappedText;
  /** Top of the first title line. */
  titleY: number;
  /** Top of the first line of the note that states the orientation convention. */
  noteY: number;
  panels: PlacedPanel[];
  /** Column holding the colour bar and its labels. */
  legend: { x: number; y: number; width: number; height: number };
  /** Top of the first footer line. */
  footerY: number;
  /** Region every panel shows, in voxel indices. */
  crop: IndexBox;
  mmPerPixel: number;
}

function groupRows(slices: SliceChoice[], columns: number): SliceChoice[][] {
  const rows: SliceChoice[][] = [];
  for (const view of ['axial', 'coronal'] as const) {
    const ofView = slices.filter((slice) => slice.view === view);
    for (let start = 0; start < ofView.length; start += columns) {
      rows.push(ofView.slice(start, start + columns));
    }
  }
  return rows;
}

/**
 * Places the panels in rows, axial rows first, with the colour bar column to their right.
 * `wrapText` wraps the title, note and footer to a width in pixels.
 */
export function layoutOverlay(
  input: CheckedOverlayInput,
  wrapText: (widthPx: number) => WrappedText,
): OverlayLayout {
  const extent = sliceExtent(input);
  const crop = cropBox(input, extent);
  const cropWidthMm = (crop.max[0] - crop.min[0] + 1) * input.ct.spacingMm[0];
  const mmPerPixel = cropWidthMm / input.panelWidthPx;
  const rows = groupRows(chooseSlices(input, extent), input.columns);
  const columnsUsed = Math.max(...rows.map((row) => row.length));
  const legendX =
    LAYOUT.margin +
    columnsUsed * input.panelWidthPx +
    (columnsUsed - 1) * LAYOUT.gap +
    LAYOUT.legendGap;
  const width = legendX + LAYOUT.legendWidth + LAYOUT.margin;
  const text = wrapText(width - 2 * LAYOUT.margin);

  const titleY = LAYOUT.margin;
  const noteY = titleY + text.title.length * LAYOUT.titleHeight;
  let y = noteY + text.note.length * LAYOUT.lineHeight + LAYOUT.gap;
  const panelsTop = y;

  const panels: PlacedPanel[] = [];
  for (const row of rows) {
    let rowHeight = 0;
    row.forEach((slice, column) => {
      const sampling = panelSampling(input, slice, crop, mmPerPixel);
      const x = LAYOUT.margin + column * (input.panelWidthPx + LAYOUT.gap);
      panels.push({ slice, sampling, x, y: y + LAYOUT.labelStripHeight });
      rowHeight = Math.max(rowHeight, sampling.heightPx);
    });
    y += LAYOUT.labelStripHeight + rowHeight + LAYOUT.gap;
  }
  const panelsBottom = Math.max(y - LAYOUT.gap, panelsTop + LAYOUT.minLegendHeight);
  const footerY = panelsBottom + LAYOUT.gap;
  return {
    width,
    height: footerY + text.footer.length * LAYOUT.lineHeight + LAYOUT.margin,
    text,
    titleY,
    noteY,
    panels,
    legend: {
      x: legendX,
      y: panelsTop,
      width: LAYOUT.legendWidth,
      height: panelsBottom - panelsTop,
    },
    footerY,
    crop,
    mmPerPixel,
  };
}
