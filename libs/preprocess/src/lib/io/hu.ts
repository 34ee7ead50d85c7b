import { InputError } from '../errors.ts';
import { PADDING_HU, PADDING_THRESHOLD_HU } from '../volume.ts';

/** Pixel buffer as ITK-wasm returns it. */
export type PixelArray =
  | Int8Array
  | Uint8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | Float32Array
  | Float64Array
  | BigInt64Array
  | BigUint64Array;

const INT16_MIN = -32768;
const INT16_MAX = 32767;

/**
 * Converts stored values to HU in int16: `value * slope + intercept` in float64, rounded and
 * saturated (never wrapped) into the int16 range. Values below `PADDING_THRESHOLD_HU` become
 * `PADDING_HU`, and so does NaN.
 */
export function toHuInt16(values: PixelArray, slope = 1, intercept = 0): Int16Array {
  const hu = new Int16Array(values.length);
  for (let index = 0; index < values.length; index++) {
    const value = Number(values[index]) * slope + intercept;
    if (!(value >= PADDING_THRESHOLD_HU)) {
      hu[index] = PADDING_HU;
    } else {
      hu[index] = Math.min(INT16_MAX, Math.max(INT16_MIN, Math.round(value)));
    }
  }
  return hu;
}

/** Range of raw values before conversion, used to tell normalized images from HU. */
export function valueRange(values: PixelArray): { min: number; max: number } {
  let min = Infinity;
  let max = -Infinity;
  for (let index = 0; index < values.length; index++) {
    const value = Number(values[index]);
    if (value < min) min = value;
    if (value > max) max = value;
  }
  return { min, max };
}

/** Air and aerated lung lie in this HU window; the low-density peak must fall inside it. */
const AIR_WINDOW_HU: [number, number] = [-1100, -700];

/** Share of non-padding voxels that must lie in `AIR_WINDOW_HU` (body-external air or lung). */
const MIN_AIR_FRACTION = 0.005;

const BIN_HU = 20;

/**
 * Rejects intensities that are not HU: a normalized float image, unsigned storage without
 * its intercept, or any image without a low-density peak of air or lung in -1100..-700 HU.
 * Padding (`PADDING_HU`) is left out of the histogram because it lies outside the body.
 *
 * The window reaches -700 HU because crops around the mediastinum contain lung but no
 * body-external air, and their lung peak sits near -800 HU.
 *
 * @throws InputError `INPUT_NOT_HU`
 */
export function checkHounsfieldUnits(
  hu: Int16Array,
  rawRange: { min: number; max: number },
  isFloat: boolean,
  file: string,
): void {
  const reject = (reason: string, fix: string): never => {
    throw new InputError(
      'INPUT_NOT_HU',
      `Scan ${file} is not in Hounsfield units: ${reason}. ${fix}`,
      {
        file,
        rawMin: rawRange.min,
        rawMax: rawRange.max,
      },
    );
  };

  if (isFloat && rawRange.min >= -1 && rawRange.max <= 1) {
    reject(
      `its values lie in ${rawRange.min}..${rawRange.max}, a normalized range`,
      'Provide the original scan with intensities in HU.',
    );
  }

  const { lowPeakHu, airFraction, count } = lowDensityPeak(hu);
  if (count === 0) {
    reject('every voxel is padding', 'Provide a scan with image data.');
  }
  if (rawRange.min >= 0 && lowPeakHu !== undefined && lowPeakHu >= -100 && lowPeakHu <= 300) {
    reject(
      `its minimum is ${rawRange.min} and air lies near ${lowPeakHu}, which looks like unsigned ` +
        'storage without the rescale intercept',
      'Apply the intercept (usually -1024) or export the scan in HU.',
    );
  }
  const inWindow =
    lowPeakHu !== undefined && lowPeakHu >= AIR_WINDOW_HU[0] && lowPeakHu <= AIR_WINDOW_HU[1];
  if (!inWindow || airFraction < MIN_AIR_FRACTION) {
    const peak =
      lowPeakHu === undefined ? 'no low-density peak' : `a low-density peak at ${lowPeakHu} HU`;
    reject(
      `found ${peak} and ${(airFraction * 100).toFixed(2)}% of voxels in ` +
        `${AIR_WINDOW_HU[0]}..${AIR_WINDOW_HU[1]} HU, but air and lung lie near -1000..-800 HU`,
      'Provide a chest CT in HU (air near -1000).',
    );
  }
}

/**
 * Finds the most frequent 20-HU bin among non-padding voxels within 600 HU above their
 * minimum, and the share of voxels in `AIR_WINDOW_HU`.
 */
function lowDensityPeak(hu: Int16Array): {
  lowPeakHu: number | undefined;
  airFraction: number;
  count: number;
} {
  const offset = 32768;
  const bins = new Uint32Array(Math.ceil(65536 / BIN_HU));
  let count = 0;
  let inAirWindow = 0;
  let min = Infinity;
  for (let index = 0; index < hu.length; index++) {
    const value = hu[index];
    if (value === PADDING_HU) continue;
    count++;
    if (value < min) min = value;
    if (value >= AIR_WINDOW_HU[0] && value <= AIR_WINDOW_HU[1]) inAirWindow++;
    bins[Math.floor((value + offset) / BIN_HU)]++;
  }
  if (count === 0) return { lowPeakHu: undefined, airFraction: 0, count };

  // Searching relative to the minimum finds air whatever offset the stored values have.
  const lastBin = Math.floor((min + 600 + offset) / BIN_HU);
  let peakBin = -1;
  for (let bin = Math.floor((min + offset) / BIN_HU); bin <= lastBin && bin < bins.length; bin++) {
    if (peakBin < 0 || bins[bin] > bins[peakBin]) peakBin = bin;
  }
  const lowPeakHu = peakBin * BIN_HU - offset + BIN_HU / 2;
  return { lowPeakHu, airFraction: inAirWindow / count, count };
}
