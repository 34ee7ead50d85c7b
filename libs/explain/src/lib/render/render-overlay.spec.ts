import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { decode } from 'fast-png';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ExplainRangeError } from '../errors.ts';
import { buildColormapTable, COLORMAP_ENTRIES } from './colormap.ts';
import { drawOverlay, type RenderedOverlay } from './draw-overlay.ts';
import { checkOverlayInput } from './overlay-checks.ts';
import type { RenderOverlayInput } from './overlay-types.ts';
import { renderOverlayPng, writeOverlayPng } from './render-overlay.ts';
import { nearestVoxel } from './slice-raster.ts';
import type { PlacedPanel } from './overlay-layout.ts';

/** Anisotropic spacing, so that a wrong aspect ratio shows, in mm along i, j, k. */
const SPACING: [number, number, number] = [3, 4, 5];
const SIZE: [number, number, number] = [40, 30, 36];
/** Lung centres in voxels: the patient's right lung sits at low i in LPS. */
const RIGHT_LUNG = [12, 15, 18];
const LEFT_LUNG = [27, 15, 18];
const LUNG_RADII = [6, 8, 12];
/** A pixel counts as coloured when its channels differ by more than this. */
const CHROMA_THRESHOLD = 12;

interface Phantom {
  ct: RenderOverlayInput['ct'];
  lungMask: Uint8Array;
}

function insideEllipsoid(index: number[], centre: number[], radii: number[]): boolean {
  let sum = 0;
  for (let a = 0; a < 3; a++) sum += ((index[a] - centre[a]) / radii[a]) ** 2;
  return sum <= 1;
}

function forEachVoxel(callback: (n: number, index: number[]) => void): void {
  let n = 0;
  for (let k = 0; k < SIZE[2]; k++) {
    for (let j = 0; j < SIZE[1]; j++) {
      for (let i = 0; i < SIZE[0]; i++, n++) callback(n, [i, j, k]);
    }
  }
}

/** Builds a chest phantom: soft tissue at 40 HU around two lung ellipsoids at -850 HU, in air. */
function makePhantom(): Phantom {
  const voxels = SIZE[0] * SIZE[1] * SIZE[2];
  const data = new Int16Array(voxels);
  const lungMask = new Uint8Array(voxels);
  forEachVoxel((n, index) => {
    const body = insideEllipsoid(index, [19.5, 15, 18], [18, 13, 40]);
    const lung =
      insideEllipsoid(index, RIGHT_LUNG, LUNG_RADII) ||
      insideEllipsoid(index, LEFT_LUNG, LUNG_RADII);
    if (lung) data[n] = -850;
    else if (body) data[n] = 40;
    else data[n] = -1000;
    lungMask[n] = lung ? 1 : 0;
  });
  return { ct: { data, size: SIZE, spacingMm: SPACING, originMm: [-60, -60, -90] }, lungMask };
}

/** Returns a map of 1e-4 ml/min/mmHg per voxel in a ball in the upper right lung, 0 elsewhere. */
function rightUpperBlob(): Float32Array {
  const map = new Float32Array(SIZE[0] * SIZE[1] * SIZE[2]);
  forEachVoxel((n, index) => {
    if (insideEllipsoid(index, [RIGHT_LUNG[0], RIGHT_LUNG[1], 26], [3, 4, 3])) map[n] = 1e-4;
  });
  return map;
}

function renderForTest(input: RenderOverlayInput): RenderedOverlay {
  return drawOverlay(checkOverlayInput(input));
}

function pixelsOf(rendered: RenderedOverlay): Uint8ClampedArray {
  const { width, height } = rendered.layout;
  return rendered.canvas.getContext('2d').getImageData(0, 0, width, height).data;
}

function rgbAt(pixels: Uint8ClampedArray, width: number, x: number, y: number): number[] {
  const offset = 4 * (y * width + x);
  return [pixels[offset], pixels[offset + 1], pixels[offset + 2]];
}

function chroma(rgb: number[]): number {
  return Math.max(...rgb) - Math.min(...rgb);
}

/** Panel-relative positions of the coloured pixels of a panel. */
function colouredPixels(
  pixels: Uint8ClampedArray,
  width: number,
  panel: PlacedPanel,
): { x: number; y: number }[] {
  const found: { x: number; y: number }[] = [];
  for (let y = 0; y < panel.sampling.heightPx; y++) {
    for (let x = 0; x < panel.sampling.widthPx; x++) {
      if (chroma(rgbAt(pixels, width, panel.x + x, panel.y + y)) > CHROMA_THRESHOLD) {
        found.push({ x, y });
      }
    }
  }
  return found;
}

/** Pixel column whose centre lies at continuous voxel index `i`. */
function columnAtIndex(panel: PlacedPanel, i: number): number {
  return (i - panel.sampling.column0) / panel.sampling.columnStep;
}

describe('renderOverlayPng', () => {
  const phantom = makePhantom();
  const blobInput: RenderOverlayInput = {
    ct: phantom.ct,
    map: rightUpperBlob(),
    lungMask: phantom.lungMask,
    options: { mapLabel: 'DLCO deficit', title: 'Phantom', footer: 'Research use, not diagnosis.' },
  };

  it('returns a PNG with the layout dimensions', async () => {
    const png = await renderOverlayPng(blobInput);
    const decoded = decode(png);
    const { layout } = renderForTest(blobInput);
    expect(decoded.width).toBe(layout.width);
    expect(decoded.height).toBe(layout.height);
    expect(layout.panels.filter((panel) => panel.slice.view === 'axial')).toHaveLength(6);
    expect(layout.panels.filter((panel) => panel.slice.view === 'coronal')).toHaveLength(3);
  });

  it('keeps the physical aspect ratio of each panel', () => {
    const { layout } = renderForTest(blobInput);
    const { crop } = layout;
    const widthMm = (crop.max[0] - crop.min[0] + 1) * SPACING[0];
    for (const panel of layout.panels) {
      const rowAxis = panel.slice.view === 'axial' ? 1 : 2;
      const heightMm = (crop.max[rowAxis] - crop.min[rowAxis] + 1) * SPACING[rowAxis];
      expect(panel.sampling.widthPx).toBe(blobInput.options.panelWidthPx ?? 320);
      expect(panel.sampling.heightPx).toBeCloseTo((320 * heightMm) / widthMm, -0.5);
    }
  });

  it('shows a right-lung blob on the left of axial panels', () => {
    const rendered = renderForTest(blobInput);
    const pixels = pixelsOf(rendered);
    const axial = rendered.layout.panels.filter((panel) => panel.slice.view === 'axial');
    let coloured = 0;
    for (const panel of axial) {
      const midline = columnAtIndex(panel, (SIZE[0] - 1) / 2);
      const found = colouredPixels(pixels, rendered.layout.width, panel);
      coloured += found.length;
      expect(found.filter((pixel) => pixel.x >= midline)).toEqual([]);
    }
    expect(coloured).toBeGreaterThan(50);
  });

  it('shows an upper-lung blob at the top of coronal panels', () => {
    const rendered = renderForTest(blobInput);
    const pixels = pixelsOf(rendered);
    const coronal = rendered.layout.panels.filter((panel) => panel.slice.view === 'coronal');
    let coloured = 0;
    for (const panel of coronal) {
      const found = colouredPixels(pixels, rendered.layout.width, panel);
      const midline = columnAtIndex(panel, (SIZE[0] - 1) / 2);
      coloured += found.length;
      expect(found.filter((pixel) => pixel.y >= panel.sampling.heightPx / 2)).toEqual([]);
      expect(found.filter((pixel) => pixel.x >= midline)).toEqual([]);
    }
    expect(coloured).toBeGreaterThan(50);
  });

  it('puts the superior slice first and labels it in mm', () => {
    const { layout } = renderForTest(blobInput);
    const axial = layout.panels.filter((panel) => panel.slice.view === 'axial');
    expect(axial[0].slice.index).toBeGreaterThan(axial[axial.length - 1].slice.index);
    const k = axial[0].slice.index;
    expect(axial[0].slice.label).toBe(`axial z = ${Math.round(-90 + 5 * k)} mm`);
  });

  it('moves one panel per view onto the peak', () => {
    const indicesOf = (rendered: RenderedOverlay, view: string): number[] =>
      rendered.layout.panels
        .filter((panel) => panel.slice.view === view)
        .map((panel) => panel.slice.index);
    // The lung ellipsoids span k = 6..30 and j = 7..23, and the blob is centred at k = 26, j = 15.
    const even = renderForTest({
      ...blobInput,
      options: { ...blobInput.options, showPeakSlices: false },
    });
    expect(indicesOf(even, 'axial')).toEqual([28, 24, 20, 16, 12, 8]);
    expect(indicesOf(even, 'coronal')).toEqual([10, 15, 20]);

    const peak = renderForTest(blobInput);
    expect(indicesOf(peak, 'axial')).toEqual([28, 26, 20, 16, 12, 8]);
    expect(indicesOf(peak, 'coronal')).toEqual([10, 15, 20]);
  });

  it('leaves pixels outside the lung mask uncoloured', () => {
    const map = new Float32Array(phantom.lungMask.length).fill(2e-4);
    const rendered = renderForTest({ ...blobInput, map });
    const pixels = pixelsOf(rendered);
    let inside = 0;
    let colouredInside = 0;
    for (const panel of rendered.layout.panels) {
      for (let y = 0; y < panel.sampling.heightPx; y++) {
        for (let x = 0; x < panel.sampling.widthPx; x++) {
          const isLung = phantom.lungMask[nearestVoxel(panel.sampling, SIZE[0], x, y)] !== 0;
          const rgb = rgbAt(pixels, rendered.layout.width, panel.x + x, panel.y + y);
          if (isLung) {
            inside++;
            if (chroma(rgb) > CHROMA_THRESHOLD) colouredInside++;
          } else if (chroma(rgb) > CHROMA_THRESHOLD) {
            // Orientation letters are white and never count as coloured.
            throw new Error(`${panel.slice.label}: pixel (${x}, ${y}) outside the lungs is ${rgb}`);
          }
        }
      }
    }
    expect(inside).toBeGreaterThan(1000);
    expect(colouredInside / inside).toBeGreaterThan(0.95);
  });

  it('colour bar runs from 0 up to max', () => {
    const rendered = renderForTest(blobInput);
    const pixels = pixelsOf(rendered);
    const table = buildColormapTable('inferno');
    const { colourBar } = rendered;
    const x = colourBar.x + Math.floor(colourBar.width / 2);
    const top = rgbAt(pixels, rendered.layout.width, x, colourBar.top);
    const bottom = rgbAt(pixels, rendered.layout.width, x, colourBar.bottom - 1);
    const high = Array.from(table.subarray(3 * (COLORMAP_ENTRIES - 1)));
    const low = Array.from(table.subarray(0, 3));
    for (let channel = 0; channel < 3; channel++) {
      expect(Math.abs(top[channel] - high[channel])).toBeLessThanOrEqual(2);
      expect(Math.abs(bottom[channel] - low[channel])).toBeLessThanOrEqual(2);
    }
    const luminance = (rgb: number[]): number =>
      0.2126 * rgb[0] + 0.7152 * rgb[1] + 0.0722 * rgb[2];
    expect(luminance(top)).toBeGreaterThan(luminance(bottom) + 150);
  });

  it('labels the colour bar from 0 in ml/min/mmHg per L', () => {
    const { scale } = renderForTest(blobInput);
    // 1e-4 ml/min/mmHg in a 60 mm³ voxel is 1e-4 / 6e-5 L.
    expect(scale.unit).toBe('ml/min/mmHg per L');
    expect(scale.max).toBeCloseTo(1e-4 / 6e-5, 5);
    expect(scale.ticks.length).toBeGreaterThanOrEqual(3);
    expect(scale.ticks[0]).toBe(0);
    expect(scale.tickLabels).toEqual(scale.ticks.map((tick) => tick.toFixed(1)));
  });

  it('draws text beside the colour bar ticks', () => {
    const rendered = renderForTest(blobInput);
    const pixels = pixelsOf(rendered);
    const { colourBar } = rendered;
    let lit = 0;
    for (let y = colourBar.top - 8; y < colourBar.bottom + 8; y++) {
      for (
        let x = colourBar.x + colourBar.width + 10;
        x < colourBar.x + colourBar.width + 40;
        x++
      ) {
        if (Math.max(...rgbAt(pixels, rendered.layout.width, x, y)) > 128) lit++;
      }
    }
    expect(lit).toBeGreaterThan(20);
  });

  it('uses a fixed valueMax for the colour range', () => {
    const { scale } = renderForTest({
      ...blobInput,
      options: { ...blobInput.options, valueMax: 5 },
    });
    expect(scale.max).toBe(5);
    expect(scale.ticks).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('leaves negative map values uncoloured', () => {
    const map = rightUpperBlob().map((value) => -value);
    const rendered = renderForTest({ ...blobInput, map });
    const pixels = pixelsOf(rendered);
    for (const panel of rendered.layout.panels) {
      expect(colouredPixels(pixels, rendered.layout.width, panel)).toEqual([]);
    }
    expect(rendered.scale.max).toBe(0);
    expect(rendered.scale.ticks).toEqual([]);
    expect(rendered.scale.maxSource).toBe('no positive values');
  });

  it('wraps the text of a one-column montage', () => {
    const title = 'Regional DLCO deficit of a synthetic phantom with two ellipsoid lungs';
    const options = { ...blobInput.options, title, columns: 1, panelWidthPx: 200 };
    const { layout } = renderForTest({ ...blobInput, options });
    expect(layout.width).toBe(16 + 200 + 28 + 210 + 16);
    expect(layout.text.title.length).toBeGreaterThan(1);
    expect(layout.text.title.join(' ')).toBe(title);
    expect(layout.text.note.length).toBeGreaterThan(1);
    expect(layout.panels[0].y).toBeGreaterThan(16 + 2 * 30 + 2 * 18);
  });

  it('BAD CALL - map size differs from the CT', async () => {
    const call = renderOverlayPng({ ...blobInput, map: new Float32Array(10) });
    await expect(call).rejects.toThrow(RangeError);
    await expect(call).rejects.toMatchObject({ argument: 'map', code: 'EXPLAIN_INVALID_ARGUMENT' });
    await expect(call).rejects.toThrow(/map must have one value per CT voxel/);
  });

  it('BAD CALL - ct.data size differs from ct.size', async () => {
    const ct = { ...phantom.ct, data: new Int16Array(12) };
    const call = renderOverlayPng({ ...blobInput, ct });
    await expect(call).rejects.toThrow(RangeError);
    await expect(call).rejects.toMatchObject({ argument: 'ct.data' });
  });

  it('BAD CALL - lungMask size differs from the CT', async () => {
    const call = renderOverlayPng({ ...blobInput, lungMask: new Uint8Array(5) });
    await expect(call).rejects.toThrow(RangeError);
    await expect(call).rejects.toMatchObject({ argument: 'lungMask' });
  });

  it('BAD CALL - empty lung mask', async () => {
    const lungMask = new Uint8Array(phantom.lungMask.length);
    const call = renderOverlayPng({ ...blobInput, lungMask });
    await expect(call).rejects.toThrow(ExplainRangeError);
    await expect(call).rejects.toMatchObject({ argument: 'lungMask' });
    await expect(call).rejects.toThrow(/lungMask contains no lung voxel/);
  });

  it('BAD CALL - oblique direction, unknown colormap, no mapLabel', async () => {
    const oblique = renderOverlayPng({
      ...blobInput,
      ct: { ...phantom.ct, direction: [0, 1, 0, 1, 0, 0, 0, 0, 1] },
    });
    await expect(oblique).rejects.toMatchObject({ argument: 'ct.direction' });
    const colormap = renderOverlayPng({
      ...blobInput,
      options: { ...blobInput.options, colormap: 'jet' as 'inferno' },
    });
    await expect(colormap).rejects.toThrow(/options.colormap must be one of inferno, viridis/);
    const label = renderOverlayPng({ ...blobInput, options: { mapLabel: '' } });
    await expect(label).rejects.toMatchObject({ argument: 'options.mapLabel' });
  });

  it('BAD CALL - non-finite map value', async () => {
    const map = rightUpperBlob();
    map[7] = Number.NaN;
    const call = renderOverlayPng({ ...blobInput, map });
    await expect(call).rejects.toThrow(/map must be finite, received NaN at voxel 7/);
  });

  it('renders without a lung mask over the whole grid', () => {
    const rendered = renderForTest({
      ct: phantom.ct,
      map: rightUpperBlob(),
      options: { mapLabel: 'x' },
    });
    expect(rendered.layout.crop).toEqual({ min: [0, 0, 0], max: [39, 29, 35] });
    expect(rendered.scale.maxSource).toBe('max = 99th percentile');
  });
});

describe('writeOverlayPng', () => {
  let folder: string;

  beforeAll(async () => {
    folder = await mkdtemp(path.join(os.tmpdir(), 'overlay-'));
  });

  afterAll(async () => {
    await rm(folder, { recursive: true, force: true });
  });

  it('writes a decodable PNG and no temporary file', async () => {
    const phantom = makePhantom();
    const target = path.join(folder, 'overlay.png');
    await writeOverlayPng(target, {
      ct: phantom.ct,
      map: rightUpperBlob(),
      lungMask: phantom.lungMask,
      options: { mapLabel: 'DLCO deficit', axialSlices: 2, coronalSlices: 1 },
    });
    const decoded = decode(await readFile(target));
    expect(decoded.width).toBeGreaterThan(320);
    expect(await readdir(folder)).toEqual(['overlay.png']);
  });
});
