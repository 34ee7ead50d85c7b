import { tickStep, ticks } from 'd3-array';

import type { CheckedOverlayInput } from './overlay-checks.ts';

/** Quantile of the positive map values that sets the top of the colour range by default. */
export const ROBUST_MAX_QUANTILE = 0.99;

/** Histogram bins used to narrow down the quantile before sorting. */
const QUANTILE_BINS = 65536;

/** Mapping from map values to colours, in the unit shown on the colour bar. */
export interface ColourScale {
  /** Factor from the map's ml/min/mmHg per voxel to the displayed unit. */
  displayFactor: number;
  /** Displayed unit, such as `'ml/min/mmHg per L'`. */
  unit: string;
  /** Top of the colour range in the displayed unit, or 0 when no map value in the lungs is positive. */
  max: number;
  /** Source of `max`, printed under the bar. */
  maxSource: string;
  /** Tick values from 0 to at most `max`, in the displayed unit. */
  ticks: number[];
  /** Tick labels, with the decimals the tick step needs. */
  tickLabels: string[];
}

function formatSpacing(spacingMm: readonly number[]): string {
  return spacingMm.map((value) => Number(value.toPrecision(3))).join(' × ');
}

function displayUnit(input: CheckedOverlayInput): { factor: number; unit: string } {
  const voxelMm3 = input.ct.spacingMm[0] * input.ct.spacingMm[1] * input.ct.spacingMm[2];
  switch (input.mapUnit) {
    case 'per-litre':
      return { factor: 1e6 / voxelMm3, unit: 'ml/min/mmHg per L' };
    case 'per-millilitre':
      return { factor: 1e3 / voxelMm3, unit: 'ml/min/mmHg per mL' };
    case 'per-voxel':
      return {
        factor: 1,
        unit: `ml/min/mmHg per voxel (${formatSpacing(input.ct.spacingMm)} mm)`,
      };
  }
}

/**
 * Returns the `quantile` of the positive map values inside the lung mask (all voxels without a
 * mask), in ml/min/mmHg per voxel, or 0 when no value is positive.
 */
export function positiveMapQuantile(
  map: Float32Array,
  lungMask: Uint8Array | undefined,
  quantile: number,
): number {
  const isCounted = (n: number): boolean => map[n] > 0 && (!lungMask || lungMask[n] !== 0);
  let count = 0;
  let max = 0;
  for (let n = 0; n < map.length; n++) {
    if (!isCounted(n)) continue;
    count++;
    if (map[n] > max) max = map[n];
  }
  if (count === 0) return 0;

  // Linear interpolation between order statistics (Hyndman and Fan type 7, as NumPy's default).
  const position = quantile * (count - 1);
  const below = Math.floor(position);
  const above = Math.min(below + 1, count - 1);

  // Sorting all 60 million values of a 512 × 512 × 300 test grid took 6 s under Node 20, so a
  // histogram first finds the bins that contain the two order statistics and only their values
  // are sorted.
  const binOf = (value: number): number =>
    Math.min(QUANTILE_BINS - 1, Math.floor((value / max) * QUANTILE_BINS));
  const histogram = new Float64Array(QUANTILE_BINS);
  for (let n = 0; n < map.length; n++) if (isCounted(n)) histogram[binOf(map[n])]++;
  let firstBin = 0;
  let rankBefore = 0;
  while (rankBefore + histogram[firstBin] <= below) rankBefore += histogram[firstBin++];
  let lastBin = firstBin;
  let rankThrough = rankBefore + histogram[firstBin];
  while (rankThrough <= above) rankThrough += histogram[++lastBin];

  const candidates = new Float32Array(rankThrough - rankBefore);
  let next = 0;
  for (let n = 0; n < map.length; n++) {
    if (!isCounted(n)) continue;
    const bin = binOf(map[n]);
    if (bin >= firstBin && bin <= lastBin) candidates[next++] = map[n];
  }
  candidates.sort();
  const low = candidates[below - rankBefore];
  const high = candidates[above - rankBefore];
  return low + (high - low) * (position - below);
}

/** Formats a number with three significant digits and no exponent above 1e-6. */
export function formatValue(value: number): string {
  if (value === 0) return '0';
  return Number(value.toPrecision(3)).toString();
}

function tickValues(max: number): { values: number[]; labels: string[] } {
  if (max <= 0) return { values: [], labels: [] };
  let count = 4;
  let values = ticks(0, max, count);
  while (values.length < 3) {
    count *= 2;
    values = ticks(0, max, count);
  }
  const step = tickStep(0, max, count);
  const decimals = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
  return { values, labels: values.map((value) => value.toFixed(decimals)) };
}

/**
 * Chooses the colour range: 0 to `valueMax` when it is given, else 0 to the 99th percentile of
 * the positive map values inside the lungs, in the unit of `mapUnit`.
 */
export function buildColourScale(input: CheckedOverlayInput): ColourScale {
  const { factor, unit } = displayUnit(input);
  let max: number;
  let maxSource: string;
  if (input.valueMax !== undefined) {
    max = input.valueMax;
    maxSource = 'fixed maximum';
  } else {
    max = positiveMapQuantile(input.map, input.lungMask, ROBUST_MAX_QUANTILE) * factor;
    const region = input.lungMask ? 'in the lungs' : '';
    maxSource = max > 0 ? `max = 99th percentile ${region}`.trim() : 'no positive values';
  }
  const { values, labels } = tickValues(max);
  return { displayFactor: factor, unit, max, maxSource, ticks: values, tickLabels: labels };
}
