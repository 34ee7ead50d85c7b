import type { LabelVolume } from '../volume.ts';

/**
 * Lung voxels in the first or last slice above this share of the largest lung slice mean the lungs
 * were cut off.
 */
export const CUT_OFF_SLICE_SHARE = 0.05;
/**
 * Total lung volume below which coverage is incomplete, in mL. Adult lungs at full inspiration
 * contain several litres.
 */
export const MIN_TOTAL_LUNG_VOLUME_ML = 1000;
/**
 * Share of the lung surface on the lateral or anterior-posterior edge of the field of view above
 * which a warning is raised.
 */
export const SIDE_BORDER_WARNING_SHARE = 0.01;

/** Whether the scan covers both lungs completely. */
export interface LungCoverage {
  /**
   * False when the lungs are cut off at the top or bottom, or their volume is implausibly small.
   */
  complete: boolean;
  /** Sentences explaining why coverage is incomplete, empty when it is complete. */
  reasons: string[];
  /**
   * Sentences about lung that may be missing without making coverage incomplete (side clipping).
   */
  warnings: string[];
  /** Lung voxels in the topmost slice exceed `CUT_OFF_SLICE_SHARE` of the largest lung slice. */
  touchesTop: boolean;
  /** Lung voxels in the bottommost slice exceed `CUT_OFF_SLICE_SHARE` of the largest lung slice. */
  touchesBottom: boolean;
  totalVolumeMl: number;
  /**
   * Share of lung surface voxels that touch the lateral or anterior-posterior edge of the image or
   * of the field of view. Above `SIDE_BORDER_WARNING_SHARE` it adds a sentence to `warnings`, but
   * does not make coverage incomplete.
   */
  sideBorderFraction: number;
}

/**
 * Assesses lung coverage from working-grid labels (z increasing superiorly, identity direction).
 *
 * @param fovMask 1 inside the field of view on the same grid.
 */
export function assessCoverage(labels: LabelVolume, fovMask: Uint8Array): LungCoverage {
  const [n0, n1, n2] = labels.size;
  const plane = n0 * n1;
  const sliceCounts = new Float64Array(n2);
  let total = 0;
  let surface = 0;
  let onBorder = 0;
  for (let k = 0; k < n2; k++) {
    for (let j = 0; j < n1; j++) {
      for (let i = 0; i < n0; i++) {
        const n = i + n0 * j + plane * k;
        if (!labels.data[n]) continue;
        sliceCounts[k]++;
        total++;
        const lateral =
          i === 0 ||
          j === 0 ||
          i === n0 - 1 ||
          j === n1 - 1 ||
          !fovMask[n - 1] ||
          !fovMask[n + 1] ||
          !fovMask[n - n0] ||
          !fovMask[n + n0];
        const isSurface =
          lateral ||
          !labels.data[n - 1] ||
          !labels.data[n + 1] ||
          !labels.data[n - n0] ||
          !labels.data[n + n0] ||
          k === 0 ||
          k === n2 - 1 ||
          !labels.data[n - plane] ||
          !labels.data[n + plane];
        if (isSurface) surface++;
        if (lateral) onBorder++;
      }
    }
  }
  const voxelMl = (labels.spacingMm[0] * labels.spacingMm[1] * labels.spacingMm[2]) / 1000;
  const totalVolumeMl = total * voxelMl;
  const largestSlice = Math.max(0, ...sliceCounts);
  const touchesTop =
    n2 > 0 && sliceCounts[n2 - 1] > CUT_OFF_SLICE_SHARE * largestSlice && total > 0;
  const touchesBottom = n2 > 0 && sliceCounts[0] > CUT_OFF_SLICE_SHARE * largestSlice && total > 0;
  const sideBorderFraction = surface ? onBorder / surface : 0;

  const reasons: string[] = [];
  if (touchesTop)
    reasons.push('The lungs are cut off at the top of the scan: the apices are missing.');
  if (touchesBottom)
    reasons.push('The lungs are cut off at the bottom of the scan: the bases are missing.');
  if (totalVolumeMl < MIN_TOTAL_LUNG_VOLUME_ML) {
    reasons.push(
      `The lung volume is ${totalVolumeMl.toFixed(0)} mL, ` +
        `below the plausible minimum of ${MIN_TOTAL_LUNG_VOLUME_ML} mL.`,
    );
  }
  const warnings: string[] = [];
  if (sideBorderFraction > SIDE_BORDER_WARNING_SHARE) {
    warnings.push(
      `${(100 * sideBorderFraction).toFixed(1)} % of the lung surface lies on the side edge ` +
        'of the field of view, so lung may be missing there.',
    );
  }
  return {
    complete: reasons.length === 0,
    reasons,
    warnings,
    touchesTop,
    touchesBottom,
    totalVolumeMl,
    sideBorderFraction,
  };
}
