import { ReferenceInputError, requirePositiveNumber } from './errors.ts';
import type { Sex } from './gli-dlco-table.ts';

/** Age from which males get the adult Cotes constant in the 2017 ERS/ATS DLCO standard. */
export const COTES_ADULT_MALE_MIN_AGE_YEARS = 15;

// NOTE: this upper limit is a plausibility guard chosen by this project, not a published
// bound. It catches haemoglobin given in g/L (e.g. 146) instead of g/dL.
export const HB_MAX_GDL = 25;

/**
 * Computes the Cotes factor that scales predicted DLCO to a haemoglobin concentration, as the
 * 2017 ERS/ATS standard for single-breath DLCO gives it (Graham BL et al., Eur Respir J
 * 2017;49:1600016). The factor is 1.7 Hb / (10.22 + Hb) for males aged 15 years or more, and
 * 1.7 Hb / (9.38 + Hb) for females and for children under 15. It is 1 at Hb 14.6 g/dL for
 * adult males and at 13.4 g/dL for the others.
 *
 * @param hbGdl - haemoglobin concentration in g/dL
 * @param sex - `M` or `F`
 * @param ageYears - age in years
 * @throws ReferenceInputError `REFERENCE_INVALID_INPUT` for a non-finite, zero or negative
 *   `hbGdl`, and `REFERENCE_OUT_OF_RANGE` above {@link HB_MAX_GDL} g/dL.
 * @example
 * cotesHbFactor(10, 'M', 50); // about 0.841
 */
export function cotesHbFactor(hbGdl: number, sex: Sex, ageYears: number): number {
  requirePositiveNumber('hbGdl', hbGdl, 'g/dL');
  if (hbGdl > HB_MAX_GDL) {
    throw new ReferenceInputError(
      'REFERENCE_OUT_OF_RANGE',
      'hbGdl',
      hbGdl,
      `hbGdl ${hbGdl} g/dL is above the plausible maximum of ${HB_MAX_GDL} g/dL. ` +
        'Pass haemoglobin in g/dL: divide a value in g/L by 10.',
      { min: 0, max: HB_MAX_GDL },
    );
  }
  const adultMale = sex === 'M' && ageYears >= COTES_ADULT_MALE_MIN_AGE_YEARS;
  const constantGdl = adultMale ? 10.22 : 9.38;
  return (1.7 * hbGdl) / (constantGdl + hbGdl);
}
