import {
  gliDlco,
  isReferenceInputError,
  LIMIT_OF_NORMAL_Z,
  zScore,
  type Sex,
} from '@dlco/reference';

import type { EvaluatedSubject } from './join-subjects.ts';

/** Measured and predicted position of a subject against the GLI 2017 DLCO reference. */
export interface SubjectImpairment {
  /** z-score of the measured DLCO, unitless. */
  readonly measuredZ: number;
  /** z-score of the estimate: the predictions' `z_score`, else computed like `measuredZ`. */
  readonly predictedZ: number;
  /** Measured DLCO as a percentage of the GLI predicted value. */
  readonly measuredPercent: number;
  /** Estimate as a percentage: the predictions' `percent_predicted`, else computed. */
  readonly predictedPercent: number;
}

/**
 * Places a subject against the GLI 2017 reference from the manifest's `age` (years), `sex`
 * (M or F, or male or female) and `height_cm`.
 *
 * @returns the z-scores and percentages, or a reason why the subject cannot be placed
 */
export function subjectImpairment(subject: EvaluatedSubject): SubjectImpairment | string {
  const metadata = subject.label.metadata;
  const ageYears = Number(metadata.age ?? metadata.age_years ?? '');
  const heightCm = Number(metadata.height_cm ?? '');
  const sex = parseSex(metadata.sex ?? '');
  if (metadata.age === undefined && metadata.age_years === undefined) return 'no age column';
  if (sex === null) return `sex '${metadata.sex ?? ''}' is not M or F`;

  try {
    const reference = gliDlco({ ageYears, sex, heightCm });
    const prediction = subject.prediction;
    return {
      measuredZ: zScore(subject.measured, reference),
      predictedZ: prediction.zScore ?? zScore(subject.estimate, reference),
      measuredPercent: (100 * subject.measured) / reference.predicted,
      predictedPercent:
        prediction.percentPredicted ?? (100 * subject.estimate) / reference.predicted,
    };
  } catch (error) {
    if (isReferenceInputError(error)) return error.message;
    throw error;
  }
}

/** Maps M, F, male and female in any case to the GLI sex code; null for anything else. */
export function parseSex(text: string): Sex | null {
  const lower = text.trim().toLowerCase();
  if (lower === 'm' || lower === 'male') return 'M';
  if (lower === 'f' || lower === 'female') return 'F';
  return null;
}

/** Impairment definitions evaluated as binary classifications. */
export const IMPAIRMENT_THRESHOLDS = [
  {
    name: 'belowLln',
    label: `z < -${LIMIT_OF_NORMAL_Z} (below the lower limit of normal)`,
    isImpaired: (z: number, _percent: number) => z < -LIMIT_OF_NORMAL_Z,
    score: (z: number, _percent: number) => -z,
  },
  {
    name: 'below80Percent',
    label: 'below 80 % predicted',
    isImpaired: (_z: number, percent: number) => percent < 80,
    score: (_z: number, percent: number) => -percent,
  },
  {
    name: 'below60Percent',
    label: 'below 60 % predicted',
    isImpaired: (_z: number, percent: number) => percent < 60,
    score: (_z: number, percent: number) => -percent,
  },
] as const;

export type ImpairmentThresholdName = (typeof IMPAIRMENT_THRESHOLDS)[number]['name'];
