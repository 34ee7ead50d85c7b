// @napi-rs/canvas draws the text and composites the panels: it wraps Skia, ships its native
// binary as a per-platform npm optional dependency (no post-install download) and encodes PNG
// itself, so the montage needs no system library beyond a font.
import { createCanvas, type Canvas, type SKRSContext2D } from '@napi-rs/canvas';

import { buildColormapTable, colormapEntry } from './colormap.ts';
import { buildColourScale, formatValue, type ColourScale } from './colour-scale.ts';
import type { CheckedOverlayInput } from './overlay-checks.ts';
import {
  LAYOUT,
  layoutOverlay,
  type OverlayLayout,
  type PlacedPanel,
  type WrappedText,
} from './overlay-layout.ts';
import { rasterizePanel } from './slice-raster.ts';

// NOTE: Skia takes fonts from the system. On a machine without any font installed the text is
// left out silently while the panels and the colour bar are still drawn.
const FONT_FAMILY = 'sans-serif';
const TEXT_COLOUR = '#f0f0f0';
const MUTED_TEXT_COLOUR = '#b4b4b4';
const OUTLINE_COLOUR = '#5a5a5a';
const BACKGROUND_COLOUR = '#000000';
const COLOUR_BAR_WIDTH = 22;
const TICK_LENGTH = 6;
const TITLE_FONT_PX = 20;

/** Pixel rectangle of the colour bar. Its top row shows the colour of `scale.max`. */
export interface ColourBarBox {
  x: number;
  width: number;
  top: number;
  /** First row below the bar. The row above it shows the colour of 0. */
  bottom: number;
}

/** A rendered montage with the geometry used to draw it. */
export interface RenderedOverlay {
  canvas: Canvas;
  layout: OverlayLayout;
  scale: ColourScale;
  colourBar: ColourBarBox;
}

function font(sizePx: number, bold = false): string {
  return `${bold ? 'bold ' : ''}${sizePx}px ${FONT_FAMILY}`;
}

/** Splits `text` into lines no wider than `maxWidth` pixels in the context's current font. */
export function wrapText(context: SKRSContext2D, text: string, maxWidth: number): string[] {
  const lines: string[] = [];
  for (const paragraph of text.split('\n')) {
    let line = '';
    for (const word of paragraph.split(/\s+/).filter(Boolean)) {
      const candidate = line ? `${line} ${word}` : word;
      if (line && context.measureText(candidate).width > maxWidth) {
        lines.push(line);
        line = word;
      } else {
        line = candidate;
      }
    }
    if (line) lines.push(line);
  }
  return lines;
}

function drawLines(context: SKRSContext2D, lines: string[], x: number, y: number): number {
  for (const line of lines) {
    context.fillText(line, x, y);
    y += LAYOUT.lineHeight;
  }
  return y;
}

function drawMarker(context: SKRSContext2D, text: string, x: number, y: number): void {
  context.strokeText(text, x, y);
  context.fillText(text, x, y);
}

/** Marks the patient's sides on a panel: R and L left and right, A/P or S/I at top and bottom. */
function drawOrientationMarkers(context: SKRSContext2D, panel: PlacedPanel): void {
  const { x, y, sampling } = panel;
  const [top, bottom] = panel.slice.view === 'axial' ? ['A', 'P'] : ['S', 'I'];
  const inset = 5;
  context.font = font(14, true);
  context.fillStyle = TEXT_COLOUR;
  context.strokeStyle = BACKGROUND_COLOUR;
  context.lineWidth = 3;
  context.textBaseline = 'middle';
  context.textAlign = 'left';
  drawMarker(context, 'R', x + inset, y + sampling.heightPx / 2);
  context.textAlign = 'right';
  drawMarker(context, 'L', x + sampling.widthPx - inset, y + sampling.heightPx / 2);
  context.textAlign = 'center';
  context.textBaseline = 'top';
  drawMarker(context, top, x + sampling.widthPx / 2, y + inset);
  context.textBaseline = 'bottom';
  drawMarker(context, bottom, x + sampling.widthPx / 2, y + sampling.heightPx - inset);
  context.textAlign = 'left';
}

function drawPanel(
  context: SKRSContext2D,
  input: CheckedOverlayInput,
  panel: PlacedPanel,
  scale: ColourScale,
  colormapTable: Uint8Array,
): void {
  const { sampling } = panel;
  const pixels = rasterizePanel(input, sampling, scale, colormapTable);
  const image = context.createImageData(sampling.widthPx, sampling.heightPx);
  image.data.set(pixels);
  context.putImageData(image, panel.x, panel.y);

  context.strokeStyle = OUTLINE_COLOUR;
  context.lineWidth = 1;
  context.strokeRect(panel.x - 0.5, panel.y - 0.5, sampling.widthPx + 1, sampling.heightPx + 1);
  context.font = font(13);
  context.fillStyle = TEXT_COLOUR;
  context.textBaseline = 'top';
  context.fillText(panel.slice.label, panel.x, panel.y - LAYOUT.labelStripHeight + 3);
  drawOrientationMarkers(context, panel);
}

function drawColourBar(
  context: SKRSContext2D,
  input: CheckedOverlayInput,
  layout: OverlayLayout,
  scale: ColourScale,
  colormapTable: Uint8Array,
): ColourBarBox {
  const { legend } = layout;
  context.textBaseline = 'top';
  context.fillStyle = TEXT_COLOUR;
  context.font = font(14, true);
  let y = drawLines(context, wrapText(context, input.mapLabel, legend.width), legend.x, legend.y);
  context.font = font(13);
  y = drawLines(context, wrapText(context, scale.unit, legend.width), legend.x, y);

  const range =
    scale.max > 0
      ? `Colour range 0 to ${formatValue(scale.max)} (${scale.maxSource}). Values ≤ 0 are not coloured.`
      : 'No positive map values: nothing is overlaid.';
  const notes = wrapText(context, range, legend.width);
  const barTop = y + 14;
  const barBottom = legend.y + legend.height - notes.length * LAYOUT.lineHeight - 14;
  const barHeight = barBottom - barTop;

  for (let row = 0; row < barHeight; row++) {
    const entry = 3 * colormapEntry(1 - row / Math.max(1, barHeight - 1));
    context.fillStyle = `rgb(${colormapTable[entry]}, ${colormapTable[entry + 1]}, ${colormapTable[entry + 2]})`;
    context.fillRect(legend.x, barTop + row, COLOUR_BAR_WIDTH, 1);
  }
  context.strokeStyle = OUTLINE_COLOUR;
  context.lineWidth = 1;
  context.strokeRect(legend.x - 0.5, barTop - 0.5, COLOUR_BAR_WIDTH + 1, barHeight + 1);

  context.fillStyle = TEXT_COLOUR;
  context.strokeStyle = TEXT_COLOUR;
  context.textBaseline = 'middle';
  scale.ticks.forEach((value, n) => {
    const tickY = Math.round(barBottom - 1 - (value / scale.max) * (barHeight - 1)) + 0.5;
    const tickX = legend.x + COLOUR_BAR_WIDTH;
    context.beginPath();
    context.moveTo(tickX, tickY);
    context.lineTo(tickX + TICK_LENGTH, tickY);
    context.stroke();
    context.fillText(scale.tickLabels[n], tickX + TICK_LENGTH + 4, tickY);
  });

  context.textBaseline = 'top';
  context.fillStyle = MUTED_TEXT_COLOUR;
  drawLines(context, notes, legend.x, barBottom + 14);
  return { x: legend.x, width: COLOUR_BAR_WIDTH, top: barTop, bottom: barBottom };
}

function orientationNote(input: CheckedOverlayInput): string {
  const positions = input.ct.originMm ? ' Slice positions are patient LPS coordinates in mm.' : '';
  return `Radiological view: the patient's right is on the image's left.${positions}`;
}

function wrapMontageText(input: CheckedOverlayInput, width: number): WrappedText {
  const measuring = createCanvas(1, 1).getContext('2d');
  measuring.font = font(TITLE_FONT_PX, true);
  const title = input.title ? wrapText(measuring, input.title, width) : [];
  measuring.font = font(13);
  const note = wrapText(measuring, orientationNote(input), width);
  const footer = input.footer ? wrapText(measuring, input.footer, width) : [];
  return { title, note, footer };
}

/**
 * Draws the montage: the title, the axial and coronal panels with their labels and orientation
 * markers, the colour bar and the footer.
 */
export function drawOverlay(input: CheckedOverlayInput): RenderedOverlay {
  const layout = layoutOverlay(input, (width) => wrapMontageText(input, width));
  const scale = buildColourScale(input);
  const colormapTable = buildColormapTable(input.colormap);

  const canvas = createCanvas(layout.width, layout.height);
  const context = canvas.getContext('2d');
  context.fillStyle = BACKGROUND_COLOUR;
  context.fillRect(0, 0, layout.width, layout.height);
  context.textBaseline = 'top';
  context.font = font(TITLE_FONT_PX, true);
  context.fillStyle = TEXT_COLOUR;
  layout.text.title.forEach((line, n) => {
    context.fillText(line, LAYOUT.margin, layout.titleY + n * LAYOUT.titleHeight);
  });
  context.font = font(13);
  context.fillStyle = MUTED_TEXT_COLOUR;
  drawLines(context, layout.text.note, LAYOUT.margin, layout.noteY);

  for (const panel of layout.panels) drawPanel(context, input, panel, scale, colormapTable);
  const colourBar = drawColourBar(context, input, layout, scale, colormapTable);

  context.font = font(13);
  context.fillStyle = MUTED_TEXT_COLOUR;
  context.textBaseline = 'top';
  drawLines(context, layout.text.footer, LAYOUT.margin, layout.footerY);
  return { canvas, layout, scale, colourBar };
}
