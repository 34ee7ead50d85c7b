import path from 'node:path';
import { fileURLToPath } from 'node:url';

import {
  LUNG_LABELS,
  readScan,
  resampleToWorkingGrid,
  segmentLungs,
  type Volume,
} from '@dlco/preprocess';
import { decode } from 'fast-png';
import { beforeAll, describe, expect, it } from 'vitest';

import { drawOverlay } from './draw-overlay.ts';
import { checkOverlayInput } from './overlay-checks.ts';
import type { RenderOverlayInput } from './overlay-types.ts';
import { renderOverlayPng } from './render-overlay.ts';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../../..');
const CT64 = path.join(REPO, '..', 'shared', 'data', 'real', 'cip-ct64', 'ct-64.nrrd');

/** Mean voxel index along i, j and k of the voxels holding `label`. */
function labelCentre(labels: Uint8Array, size: Volume['size'], label: number): number[] {
  const sum = [0, 0, 0];
  let count = 0;
  let n = 0;
  for (let k = 0; k < size[2]; k++) {
    for (let j = 0; j < size[1]; j++) {
      for (let i = 0; i < size[0]; i++, n++) {
        if (labels[n] !== label) continue;
        sum[0] += i;
        sum[1] += j;
        sum[2] += k;
        count++;
      }
    }
  }
  return sum.map((value) => value / count);
}

describe('renderOverlayPng on cip-ct64', () => {
  let input: RenderOverlayInput;
  let rightCentre: number[];
  let leftCentre: number[];

  beforeAll(async () => {
    const scan = (await readScan(CT64)).volume;
    const grid = resampleToWorkingGrid(scan, 2);
    const labels = segmentLungs(grid).labels.data;
    const { size } = grid.volume;
    rightCentre = labelCentre(labels, size, LUNG_LABELS.right);
    leftCentre = labelCentre(labels, size, LUNG_LABELS.left);

    // A 20 mm ball of deficit 30 mm above the right lung's centre, on a low background.
    const blob = [rightCentre[0], rightCentre[1], rightCentre[2] + 15];
    const map = new Float32Array(labels.length);
    const lungMask = new Uint8Array(labels.length);
    let n = 0;
    for (let k = 0; k < size[2]; k++) {
      for (let j = 0; j < size[1]; j++) {
        for (let i = 0; i < size[0]; i++, n++) {
          if (labels[n] === 0) continue;
          lungMask[n] = 1;
          const distanceMm = 2 * Math.hypot(i - blob[0], j - blob[1], k - blob[2]);
          map[n] = distanceMm < 20 ? 8e-5 : 0;
        }
      }
    }
    input = { ct: grid.volume, map, lungMask, options: { mapLabel: 'DLCO deficit' } };
  });

  it('renders a PNG of the montage size', async () => {
    const decoded = decode(await renderOverlayPng(input));
    const { layout } = drawOverlay(checkOverlayInput(input));
    expect(decoded.width).toBe(layout.width);
    expect(decoded.height).toBe(layout.height);
  });

  it('shows the right-lung blob left of the midline in axial panels', () => {
    const { canvas, layout } = drawOverlay(checkOverlayInput(input));
    const pixels = canvas.getContext('2d').getImageData(0, 0, layout.width, layout.height).data;
    const midlineI = (rightCentre[0] + leftCentre[0]) / 2;
    let left = 0;
    let right = 0;
    for (const panel of layout.panels.filter((placed) => placed.slice.view === 'axial')) {
      const midline = (midlineI - panel.sampling.column0) / panel.sampling.columnStep;
      for (let y = 0; y < panel.sampling.heightPx; y++) {
        for (let x = 0; x < panel.sampling.widthPx; x++) {
          const offset = 4 * ((panel.y + y) * layout.width + panel.x + x);
          const rgb = [pixels[offset], pixels[offset + 1], pixels[offset + 2]];
          if (Math.max(...rgb) - Math.min(...rgb) <= 12) continue;
          if (x < midline) left++;
          else right++;
        }
      }
    }
    expect(rightCentre[0]).toBeLessThan(leftCentre[0]);
    expect(left).toBeGreaterThan(100);
    expect(right).toBe(0);
  });
});
