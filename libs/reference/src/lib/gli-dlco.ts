import { GLI_2017_DLCO_TABLE } from '../generated/gli-2017-tlco.ts';
import { ReferenceInputError, requirePositiveNumber } from './errors.ts';
import type { GliDlcoSplines, GliDlcoTable, Sex, ValidRange } from './gli-dlco-table.ts';
import { cotesHbFactor } from './haemoglobin.ts';
import { LIMIT_OF_NORMAL_Z, lmsQuantile } from './lms.ts';

/** Subject data for the GLI 2017 DLCO reference equations. */
export interface GliDlcoOptions {
  /** Age in years, from 5 to 85. */
  readonly ageYears: number;
  readonly sex: Sex;
  /** Standing height in cm, from 90 to 230. GLI 2017 states no height limit, so this is a guard. */
  readonly heightCm: number;
  /** Haemoglobin in g/dL. When given, the predicted value and limits are Cotes-corrected. */
  readonly hbGdl?: number;
}

/** Haemoglobin correction applied to a reference, if any. */
export type HbCorrection =
  | { readonly applied: false }
  | {
      readonly applied: true;
      readonly hbGdl: number;
      /** Cotes factor that multiplied m, predicted, lln and uln. */
      readonly factor: number;
    };

/** Predicted DLCO, its limits of normal and its LMS parameters. */
export interface GliDlcoResult {
  /** Predicted (median) DLCO in ml/min/mmHg, equal to `m`. */
  readonly predicted: number;
  /** Lower limit of normal (5th percentile) in ml/min/mmHg. */
  readonly lln: number;
  /** Upper limit of normal (95th percentile) in ml/min/mmHg. */
  readonly uln: number;
  /** LMS median in ml/min/mmHg. */
  readonly m: number;
  /** LMS coefficient of variation, unitless. */
  readonly s: number;
  /** LMS skewness (Box-Cox power), unitless. */
  readonly l: number;
  readonly hbCorrection: HbCorrection;
}

/**
 * Computes the GLI 2017 reference for DLCO (TLCO) in ml/min/mmHg by the LMS method
 * (Stanojevic et al., Eur Respir J 2017;50:1700010, with the 2020 erratum). The equations are
 * for Caucasians aged 5 to 85 years.
 *
 * With `hbGdl`, the median and both limits are multiplied by the Cotes factor of
 * {@link cotesHbFactor}, so `zScore` and `percentPredicted` compare against the reference for
 * that haemoglobin.
 *
 * @param options - age in years, sex, height in cm and optional haemoglobin in g/dL
 * @throws ReferenceInputError `REFERENCE_INVALID_INPUT` for an invalid sex or a missing,
 *   non-finite, zero or negative number, and `REFERENCE_OUT_OF_RANGE` for an age or height
 *   outside the valid range.
 * @example
 * const reference = gliDlco({ ageYears: 50, sex: 'M', heightCm: 175 });
 * reference.predicted; // about 28.43
 * reference.lln; // about 21.74
 */
export function gliDlco(options: GliDlcoOptions): GliDlcoResult {
  const table = GLI_2017_DLCO_TABLE;
  const sex = requireSex(options.sex);
  const { ageRangeYears, heightRangeCm } = table;
  const ageYears = requireInRange('ageYears', 'age', options.ageYears, ageRangeYears, 'years');
  const heightCm = requireInRange('heightCm', 'height', options.heightCm, heightRangeCm, 'cm');

  const { coefficients, splines } = table.sexes[sex];
  const { mSpline, sSpline, lSpline } = interpolateSplines(table, splines, ageYears);
  const logAge = Math.log(ageYears);
  const l = coefficients.q0 + lSpline;
  const s = Math.exp(coefficients.p0 + coefficients.p1 * logAge + sSpline);
  const medianForNormalHb = Math.exp(
    coefficients.a0 + coefficients.a1 * Math.log(heightCm) + coefficients.a2 * logAge + mSpline,
  );

  let hbCorrection: HbCorrection = { applied: false };
  let m = medianForNormalHb;
  if (options.hbGdl !== undefined) {
    const factor = cotesHbFactor(options.hbGdl, sex, ageYears);
    hbCorrection = { applied: true, hbGdl: options.hbGdl, factor };
    m = medianForNormalHb * factor;
  }

  return {
    predicted: m,
    lln: lmsQuantile({ l, m, s }, -LIMIT_OF_NORMAL_Z),
    uln: lmsQuantile({ l, m, s }, LIMIT_OF_NORMAL_Z),
    m,
    s,
    l,
    hbCorrection,
  };
}

function requireSex(sex: unknown): Sex {
  if (sex !== 'M' && sex !== 'F') {
    throw new ReferenceInputError(
      'REFERENCE_INVALID_INPUT',
      'sex',
      sex,
      `sex must be 'M' or 'F', received ${JSON.stringify(sex) ?? String(sex)}.`,
    );
  }
  return sex;
}

/** Checks `value` against `range`; messages name the field by `label`, a plain word. */
function requireInRange(
  field: string,
  label: string,
  value: unknown,
  range: ValidRange,
  unit: string,
): number {
  const checked = requirePositiveNumber(field, value, unit);
  if (checked < range.min || checked > range.max) {
    throw new ReferenceInputError(
      'REFERENCE_OUT_OF_RANGE',
      field,
      checked,
      `${label} ${checked} ${unit} is outside the GLI 2017 DLCO range of ` +
        `${range.min}-${range.max} ${unit}. Check the unit, or use a reference set that ` +
        'covers this subject.',
      range,
    );
  }
  return checked;
}

/** Interpolates each spline linearly between the two table rows around `ageYears`. */
function interpolateSplines(
  table: GliDlcoTable,
  splines: GliDlcoSplines,
  ageYears: number,
): { mSpline: number; sSpline: number; lSpline: number } {
  const ages = table.splineAgesYears;
  const stepYears = ages[1] - ages[0];
  const position = (ageYears - ages[0]) / stepYears;
  const lower = Math.min(Math.floor(position), ages.length - 2);
  const weight = position - lower;
  const at = (values: readonly number[]) =>
    (1 - weight) * values[lower] + weight * values[lower + 1];
  return {
    mSpline: at(splines.mSpline),
    sSpline: at(splines.sSpline),
    lSpline: at(splines.lSpline),
  };
}
