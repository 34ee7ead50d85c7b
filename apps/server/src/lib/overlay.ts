import { join } from 'node:path';

import { mapPatchValuesToVolume, writeOverlayPng } from '@dlco/explain';
import { RESEARCH_USE_NOTICE, type Prediction } from '@dlco/model';

export const OVERLAY_FILE = 'overlay.png';

/**
 * Writes `overlay.png` into `dir`: axial and coronal CT slices of the working grid with the
 * map quantity per patch spread over its lung voxels. It draws what `dlco demo` draws, and is
 * meant as `writePrediction`'s `writeExtraFiles`.
 */
export async function writePredictionOverlay(dir: string, prediction: Prediction): Promise<void> {
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
    options: {
      mapLabel: isDeficit ? 'DLCO deficit' : 'DLCO contribution',
      title: `DLCO ${result.dlco.estimate.toFixed(1)} ml/min/mmHg`,
      footer: `${result.model.id} ${result.model.version}. ${RESEARCH_USE_NOTICE}`,
    },
  });
}
