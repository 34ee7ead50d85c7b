import { from } from 'arquero';

import type { LabelRecord, LabelsFile } from './read-labels.ts';
import type { PredictionRecord, PredictionsFile } from './read-predictions.ts';

/** A subject with a measured label and an ok prediction. */
export interface EvaluatedSubject {
  readonly id: string;
  /** Measured DLCO in ml/min/mmHg. */
  readonly measured: number;
  /** Model estimate in ml/min/mmHg. */
  readonly estimate: number;
  readonly prediction: PredictionRecord;
  readonly label: LabelRecord;
}

/** Error text of a failed row whose predictions CSV gives none. */
export const NO_ERROR_GIVEN = 'no error given in the predictions CSV';

/**
 * A subject whose prediction failed, with the error from the predictions file, or
 * {@link NO_ERROR_GIVEN} when its error cell is empty or missing.
 */
export interface FailedSubject {
  readonly id: string;
  readonly error: string;
}

/** Predictions and labels joined on `id`, with every id that was left out and why. */
export interface JoinedSubjects {
  /** Subjects used in the metrics, in label file order. */
  readonly subjects: readonly EvaluatedSubject[];
  /** Labeled subjects whose prediction row has status `failed`. */
  readonly failed: readonly FailedSubject[];
  /** Ids in the predictions file without a label. */
  readonly predictionsOnly: readonly string[];
  /** Ids in the label file without a prediction. */
  readonly labelsOnly: readonly string[];
}

/**
 * Joins predictions and labels on `id` with arquero. Ids on one side only and failed
 * predictions are returned in their own lists, so a caller can report every subject.
 *
 * @example
 * const joined = joinSubjects(predictions, labels);
 * joined.labelsOnly; // labeled ids that were never predicted
 */
export function joinSubjects(predictions: PredictionsFile, labels: LabelsFile): JoinedSubjects {
  const predictionIndex = from(
    predictions.records.map((record, index) => ({ id: record.id, predictionRow: index })),
  );
  const labelIndex = from(
    labels.records.map((record, index) => ({ id: record.id, labelRow: index })),
  );

  const matched = labelIndex.join(predictionIndex, 'id').orderby('labelRow').objects() as {
    labelRow: number;
    predictionRow: number;
  }[];
  const idsOf = (rows: object[]) => rows.map((row) => (row as { id: string }).id);
  const predictionsOnly = idsOf(predictionIndex.antijoin(labelIndex, 'id').objects());
  const labelsOnly = idsOf(labelIndex.antijoin(predictionIndex, 'id').objects());

  const subjects: EvaluatedSubject[] = [];
  const failed: FailedSubject[] = [];
  for (const { labelRow, predictionRow } of matched) {
    const label = labels.records[labelRow];
    const prediction = predictions.records[predictionRow];
    if (prediction.status === 'failed' || prediction.estimate === null) {
      failed.push({ id: label.id, error: prediction.error || NO_ERROR_GIVEN });
      continue;
    }
    subjects.push({
      id: label.id,
      measured: label.dlco,
      estimate: prediction.estimate,
      prediction,
      label,
    });
  }
  return { subjects, failed, predictionsOnly, labelsOnly };
}
