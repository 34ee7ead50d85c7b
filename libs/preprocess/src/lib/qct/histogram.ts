import { PADDING_THRESHOLD_HU } from '../volume.ts';

/** Lowest HU a histogram bin holds; lower values are padding and never counted. */
export const HISTOGRAM_MIN_HU = PADDING_THRESHOLD_HU;
/** Highest HU a histogram bin holds; higher values are counted here. */
export const HISTOGRAM_MAX_HU = 4095;
export const HISTOGRAM_BINS = HISTOGRAM_MAX_HU - HISTOGRAM_MIN_HU + 1;

/** Quantitative CT metrics of one lung region. */
export interface QctMetrics {
  voxelCount: number;
  volumeMl: number;
  /** Mean lung density, in HU. */
  meanHu: number;
  /** Percentage of voxels below -950 HU (%LAA-950, emphysema index). */
  laa950Percent: number;
  /** 15th percentile of the HU distribution (nearest rank on whole HU), in HU. */
  perc15Hu: number;
  /** Percentage of voxels from -600 to -250 HU inclusive (%HAA). */
  haaPercent: number;
}

/**
 * Computes the metrics from a histogram of whole-HU counts (`counts[hu - HISTOGRAM_MIN_HU]`).
 * An empty region gets a volume of 0 and NaN for the other metrics.
 */
export function metricsFromHistogram(
  counts: Float64Array,
  offset: number,
  voxelMl: number,
): QctMetrics {
  let total = 0;
  let sum = 0;
  let low = 0;
  let high = 0;

  for (let b = 0; b < HISTOGRAM_BINS; b++) {
    const count = counts[offset + b];
    if (!count) continue;
    const hu = b + HISTOGRAM_MIN_HU;
    total += count;
    sum += count * hu;
    if (hu < -950) low += count;
    if (hu >= -600 && hu <= -250) high += count;
  }

  if (total === 0) {
    return {
      voxelCount: 0,
      volumeMl: 0,
      meanHu: Number.NaN,
      laa950Percent: Number.NaN,
      perc15Hu: Number.NaN,
      haaPercent: Number.NaN,
    };
  }
  // Nearest rank: the smallest HU with at least 15 % of the voxels at or below it.
  const rank = Math.ceil(0.15 * total);
  let cumulative = 0;
  let perc15Hu = HISTOGRAM_MAX_HU;
  for (let b = 0; b < HISTOGRAM_BINS; b++) {
    cumulative += counts[offset + b];
    if (cumulative >= rank) {
      perc15Hu = b + HISTOGRAM_MIN_HU;
      break;
    }
  }
  return {
    voxelCount: total,
    volumeMl: total * voxelMl,
    meanHu: sum / total,
    laa950Percent: (100 * low) / total,
    perc15Hu,
    haaPercent: (100 * high) / total,
  };
}
