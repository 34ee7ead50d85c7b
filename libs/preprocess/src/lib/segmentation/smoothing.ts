import { LUNG_LABELS } from '../volume.ts';
import {
  boundingBox,
  boxSize,
  close,
  cropToBox,
  fillEnclosedHoles,
  forEachInBox,
  type Size3,
  type Spacing3,
} from './morphology.ts';

/** Options of `smoothLungs`. */
export interface SmoothLungsOptions {
  /** Closing radius, in mm. */
  radiusMm: number;
  /** Whether voxel `n` of the full grid may be added to a lung (inside the body, not airway). */
  allowed: (n: number) => boolean;
}

/**
 * Pulls vessels, airway walls and juxtapleural nodules into each lung: per lung, fills holes
 * enclosed in 3-D and applies a morphological closing with a ball of `radiusMm`, then fills
 * enclosed holes again. Holes are filled only when the lung encloses them in 3-D. Tissue that
 * looks like an island in some axial slices but continues outside the lung in others therefore
 * stays out, such as the liver or spleen under the diaphragm dome, or the heart. A closing with a
 * ball never leaves the convex hull of the lung, so nothing grows beyond the lung's convex region.
 * Added voxels must also pass `allowed` and must not belong to the other lung, so the closing
 * cannot bridge the mediastinum into the other lung or re-add the trachea.
 */
export function smoothLungs(
  labels: Uint8Array,
  size: Size3,
  spacingMm: Spacing3,
  options: SmoothLungsOptions,
): Uint8Array {
  const out = Uint8Array.from(labels);
  const margin = Math.ceil(options.radiusMm / Math.min(...spacingMm)) + 1;
  for (const lung of [LUNG_LABELS.right, LUNG_LABELS.left]) {
    const box = boundingBox(labels, size, lung, margin);
    if (!box) continue;
    const localSize = boxSize(box);
    const local = cropToBox(labels, size, box);
    for (let m = 0; m < local.length; m++) local[m] = local[m] === lung ? 1 : 0;
    fillEnclosedHoles(local, localSize);
    const closed = fillEnclosedHoles(
      close(local, localSize, spacingMm, options.radiusMm),
      localSize,
    );
    forEachInBox(size, box, (m, n) => {
      if (closed[m] && out[n] === 0 && options.allowed(n)) out[n] = lung;
    });
  }
  return out;
}
