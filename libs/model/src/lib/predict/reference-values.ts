import { gliDlco, isReferenceInputError, percentPredicted, zScore } from '@dlco/reference';

import type { SubjectMetadata } from '../metadata.ts';
import type { PredictionResult } from './prediction-types.ts';

type ReferenceFields = Pick<
  PredictionResult['dlco'],
  'predicted' | 'lln' | 'uln' | 'zScore' | 'percentPredicted' | 'reference'
>;

const EQUATIONS = 'GLI 2017 DLCO (Stanojevic et al., Eur Respir J 2017;50:1700010)';

/**
 * Compares the estimate with the GLI 2017 reference for the subject, Hb-corrected (Cotes) when
 * `hbGdl` is given. A subject outside the equations' range gets null values and a warning instead
 * of an error, because the model estimate itself is still valid.
 */
export function referenceValues(
  estimate: number,
  subject: SubjectMetadata,
): { values: ReferenceFields; warnings: string[] } {
  const empty: ReferenceFields = {
    predicted: null,
    lln: null,
    uln: null,
    zScore: null,
    percentPredicted: null,
    reference: { equations: EQUATIONS, hbCorrected: false, hbGdl: null, hbFactor: null },
  };
  let reference;
  try {
    reference = gliDlco({
      ageYears: subject.ageYears,
      sex: subject.sex,
      heightCm: subject.heightCm,
      hbGdl: subject.hbGdl,
    });
  } catch (error) {
    if (!isReferenceInputError(error)) throw error;
    return { values: empty, warnings: [`No GLI reference values: ${error.message}`] };
  }

  const correction = reference.hbCorrection;
  const values: ReferenceFields = {
    predicted: reference.predicted,
    lln: reference.lln,
    uln: reference.uln,
    // The LMS z-score and percent predicted are defined for positive values only.
    zScore: estimate > 0 ? zScore(estimate, reference) : null,
    percentPredicted: estimate > 0 ? percentPredicted(estimate, reference) : null,
    reference: {
      equations: EQUATIONS,
      hbCorrected: correction.applied,
      hbGdl: correction.applied ? correction.hbGdl : null,
      hbFactor: correction.applied ? correction.factor : null,
    },
  };
  const warnings =
    estimate > 0
      ? []
      : [`The estimate ${estimate} ml/min/mmHg is not positive, so it has no z-score.`];
  if (!correction.applied) {
    warnings.push(
      'The reference values are not Hb-corrected because no haemoglobin was given, so they ' +
        'assume a normal haemoglobin. Give Hb in g/dL (dlco predict --hb, the batch manifest ' +
        'column hb_g_dl or the form field hb) to correct them for anaemia or polycythaemia.',
    );
  }
  return { values, warnings };
}
