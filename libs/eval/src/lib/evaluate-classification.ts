import { bootstrapStatistics, type BootstrapOptions, type Interval } from './bootstrap.ts';
import { binaryRates, rocAuc } from './classification-metrics.ts';
import {
  IMPAIRMENT_THRESHOLDS,
  subjectImpairment,
  type ImpairmentThresholdName,
  type SubjectImpairment,
} from './impairment.ts';
import type { EvaluatedSubject } from './join-subjects.ts';

/** Detection performance of the estimate for one kind of measured impairment. */
export interface ImpairmentClassification {
  readonly threshold: ImpairmentThresholdName;
  readonly label: string;
  /** Subjects placed against the reference. */
  readonly n: number;
  /** Subjects impaired by their measured DLCO. */
  readonly positives: number;
  /** AUC of the estimate's score (minus z or minus percent), ties counted as 0.5. */
  readonly auc: Interval;
  readonly sensitivity: Interval;
  readonly specificity: Interval;
  readonly ppv: Interval;
  readonly npv: Interval;
}

/** Impairment classification for every threshold, plus the subjects left out of it. */
export interface ClassificationResult {
  readonly thresholds: readonly ImpairmentClassification[];
  /** Subjects without a usable age, sex or height, with the reason. */
  readonly excluded: readonly { readonly id: string; readonly reason: string }[];
}

/**
 * Evaluates impairment detection at the lower limit of normal (z < -1.645), 80 % and 60 %
 * predicted. Truth comes from the measured DLCO against GLI 2017, the call from the estimate.
 */
export function evaluateClassification(
  subjects: readonly EvaluatedSubject[],
  options: BootstrapOptions = {},
): ClassificationResult {
  const placed: SubjectImpairment[] = [];
  const excluded: { id: string; reason: string }[] = [];
  for (const subject of subjects) {
    const impairment = subjectImpairment(subject);
    if (typeof impairment === 'string') excluded.push({ id: subject.id, reason: impairment });
    else placed.push(impairment);
  }

  const thresholds = IMPAIRMENT_THRESHOLDS.map((threshold): ImpairmentClassification => {
    const positive = placed.map((s) => threshold.isImpaired(s.measuredZ, s.measuredPercent));
    const called = placed.map((s) => threshold.isImpaired(s.predictedZ, s.predictedPercent));
    const score = placed.map((s) => threshold.score(s.predictedZ, s.predictedPercent));
    const intervals = bootstrapStatistics(
      placed.length,
      (indices) => {
        const pick = <T>(values: T[]) => Array.from(indices, (i) => values[i]);
        return {
          auc: rocAuc(pick(score), pick(positive)),
          ...binaryRates(pick(called), pick(positive)),
        };
      },
      options,
    );
    return {
      threshold: threshold.name,
      label: threshold.label,
      n: placed.length,
      positives: positive.filter(Boolean).length,
      ...intervals,
    };
  });
  return { thresholds, excluded };
}
