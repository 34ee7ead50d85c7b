import type { EvaluatedSubject } from './join-subjects.ts';

/** One evaluated subject's values for per-subject plots and subjects.csv, in ml/min/mmHg. */
export interface SubjectPoint {
  readonly id: string;
  readonly measured: number;
  readonly estimate: number;
  /** Lower bound of the prediction interval, null when predictions.csv has none. */
  readonly lower: number | null;
  /** Upper bound of the prediction interval, null when predictions.csv has none. */
  readonly upper: number | null;
  /** Reference (predicted normal) DLCO, null when predictions.csv has none. */
  readonly predicted: number | null;
  /** Manifest `phenotype`, empty when the manifest has no such column or cell. */
  readonly phenotype: string;
  /** `model_id` of the prediction, empty when predictions.csv has none. */
  readonly modelId: string;
  /** `model_version` of the prediction, empty when predictions.csv has none. */
  readonly modelVersion: string;
}

/** Returns the per-subject values that the report plots, in label file order. */
export function subjectPoints(subjects: readonly EvaluatedSubject[]): SubjectPoint[] {
  return subjects.map((subject) => ({
    id: subject.id,
    measured: subject.measured,
    estimate: subject.estimate,
    lower: subject.prediction.lower,
    upper: subject.prediction.upper,
    predicted: subject.prediction.predicted,
    phenotype: (subject.label.metadata.phenotype ?? '').trim(),
    modelId: subject.prediction.modelId ?? '',
    modelVersion: subject.prediction.modelVersion ?? '',
  }));
}
