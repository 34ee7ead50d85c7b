import { randomBytes } from 'node:crypto';
import { rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';

import { drawOverlay } from './draw-overlay.ts';
import { checkOverlayInput } from './overlay-checks.ts';
import type { RenderOverlayInput } from './overlay-types.ts';

/**
 * Renders a montage of axial and coronal CT slices in a lung window with a regional map overlaid,
 * and returns it as PNG bytes.
 *
 * The slices are evenly spaced over the lung mask's extent and keep the aspect ratio of the voxel
 * spacing. They follow radiological convention: the patient's right is on the image's left, with
 * anterior at the top of axial panels and superior at the top of coronal panels. The map is shown in a
 * perceptual colour map with opacity rising with its value. Its colour range runs from 0 to the
 * 99th percentile of the positive values inside the lungs unless `options.valueMax` is given, and
 * a labelled colour bar states it in the unit of `options.mapUnit` (ml/min/mmHg per L by default).
 *
 * NOTE: values at or below 0 are not coloured, so a signed map (a deficit with gains) shows only
 * its positive part.
 *
 * @param input.ct CT on an axis-aligned LPS grid, in HU, such as `WorkingGrid.volume`.
 * @param input.map Map on the CT grid in ml/min/mmHg per voxel.
 * @param input.lungMask Non-zero inside the lungs; the overlay is drawn only there.
 * @throws ExplainRangeError naming the argument when `map` or `lungMask` does not match the CT
 *   voxel count, `lungMask` is empty or an option is out of range.
 * @throws ExplainTypeError when an argument has the wrong type.
 * @example
 * const png = await renderOverlayPng({
 *   ct: grid.volume,
 *   map: deficitPerVoxel,
 *   lungMask: segmentation.labels.data,
 *   options: { mapLabel: 'DLCO deficit', footer: 'model v3. Research use, not diagnosis.' },
 * });
 */
export async function renderOverlayPng(input: RenderOverlayInput): Promise<Buffer> {
  const checked = checkOverlayInput(input);
  const { canvas } = drawOverlay(checked);
  return canvas.encode('png');
}

/**
 * Renders the montage of `renderOverlayPng` and writes it to `filePath`. The PNG goes to a
 * temporary file in the same folder first and is renamed into place, so readers never see a
 * partial file.
 *
 * @example
 * await writeOverlayPng('out/overlay.png', { ct, map, lungMask, options: { mapLabel: 'DLCO deficit' } });
 */
export async function writeOverlayPng(filePath: string, input: RenderOverlayInput): Promise<void> {
  const png = await renderOverlayPng(input);
  const temporary = path.join(
    path.dirname(filePath),
    `.${path.basename(filePath)}.${randomBytes(6).toString('hex')}.tmp`,
  );
  try {
    await writeFile(temporary, png);
    await rename(temporary, filePath);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
}
