import { join } from 'node:path';

import { mapPatchValuesToVolume, writeOverlayPng } from '@dlco/explain';

import type { Prediction } from './prediction-types.ts';
import { RESEARCH_USE_NOTICE } from './result-assembly.ts';

export const OVERLAY_FILE = 'overlay.png';

/** Options of `writePredictionOverlay`. */
export interface PredictionOverlayOptions {
  /**
   * Puts the input's file name in the title. Off by default because an uploaded file name can
   * carry patient identifiers.
   */
  showFileName?: boolean;
}

/**
 * Writes `overlay.png` into `dir`: axial and coronal working-grid CT slices with the prediction's
 * map quantity (deficit or contribution) per patch spread over its lung voxels.
 *
 * Meant as `writePrediction`'s `writeExtraFiles`, so the image appears with result.json or not
 * at all. The working grid is used because it is axis-aligned LPS, as the renderer requires.
 */
export async function writePredictionOverlay(
  dir: string,
  prediction: Prediction,
  options: PredictionOverlayOptions = {},
): Promise<void> {
  const { result, preprocessed } = prediction;
  const isDeficit = result.maps.map?.quantity.startsWith('deficit') === true;
  const values = new Float64Array(preprocessed.patches.count);
  for (const patch of result.patches) {
    values[patch.index] = isDeficit ? (patch.deficitMlMinMmHg ?? 0) : patch.contributionMlMinMmHg;
  }
  const labels = preprocessed.segmentation.labels;
  const placed = mapPatchValuesToVolume({
    values,
    cornerIjk: preprocessed.patches.cornerIjk,
    patchSizeVoxels: preprocessed.patches.patchSizeVoxels,
    gridSize: labels.size,
    lungMask: labels.data,
  });

  await writeOverlayPng(join(dir, OVERLAY_FILE), {
    ct: preprocessed.working.volume,
    map: placed.map,
    lungMask: labels.data,
    options: overlayRenderOptions(result, options),
  });
}

/**
 * Returns the overlay's labels and colour-bar unit. The unit is per mL of lung, as in
 * map.nii.gz and result.json `maps.map.unit`, so the three state the same numbers. The label
 * states that uncoloured lung is either no deficit or lung outside every patch, because the
 * renderer leaves both uncoloured.
 */
export function overlayRenderOptions(
  result: Prediction['result'],
  options: PredictionOverlayOptions = {},
): { mapLabel: string; mapUnit: 'per-millilitre'; title: string; footer: string } {
  const isDeficit = result.maps.map?.quantity.startsWith('deficit') === true;
  const estimate = `DLCO ${result.dlco.estimate.toFixed(1)} ml/min/mmHg`;
  const quantity = isDeficit ? 'DLCO deficit' : 'DLCO contribution';
  const uncoloured = isDeficit ? 'no deficit' : 'no contribution';
  return {
    mapLabel:
      `${quantity} per mL of lung. Uncoloured lung: ${uncoloured}, or outside every patch ` +
      '(not analysed)',
    mapUnit: 'per-millilitre',
    title: options.showFileName ? `${result.input.fileName}: ${estimate}` : estimate,
    footer: `${result.model.id} ${result.model.version}. ${RESEARCH_USE_NOTICE}`,
  };
}
