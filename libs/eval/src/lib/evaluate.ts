import {
  DEFAULT_BOOTSTRAP_RESAMPLES,
  DEFAULT_BOOTSTRAP_SEED,
  type Interval,
} from './bootstrap.ts';
import { evaluateCalibration, type CalibrationResult } from './calibration.ts';
import { comparePredictors, type PairedComparison } from './compare-predictors.ts';
import { EvalInputError } from './errors.ts';
import { evaluateAgreement, type AgreementMetricName } from './evaluate-agreement.ts';
import { evaluateClassification, type ClassificationResult } from './evaluate-classification.ts';
import {
  DEFAULT_MIN_STRATUM_SIZE,
  evaluateStratum,
  type StratumOptions,
  type StratumResult,
} from './evaluate-strata.ts';
import type { FaithfulnessReport } from './faithfulness.ts';
import { inputWarnings } from './input-warnings.ts';
import { joinSubjects, type EvaluatedSubject, type FailedSubject } from './join-subjects.ts';
import type { LabelsFile } from './read-labels.ts';
import type { PredictionsFile } from './read-predictions.ts';
import { selectStrata } from './strata.ts';
import { subjectPoints, type SubjectPoint } from './subject-points.ts';

/**
 * Minimum number of subjects for which every agreement metric, correlations included, is
 * defined.
 */
export const MIN_EVALUATED_SUBJECTS = 3;

/**
 * Cohort size below which the report warns that its intervals are rough: with few subjects a
 * bootstrap resample often repeats one subject many times, so correlations and R² swing widely.
 */
export const SMALL_COHORT_SUBJECTS = 20;

/** Settings of {@link evaluatePredictions}. */
export interface EvaluationOptions extends StratumOptions {
  /** Manifest columns to stratify by, in addition to the built-in strata. */
  readonly strata?: readonly string[];
  /** Another predictions file to compare the model with, subject by subject. */
  readonly other?: { readonly name: string; readonly predictions: PredictionsFile };
}

/** Accounting of every id in the inputs. */
export interface SubjectAccounting {
  /** Subjects with a label and an ok prediction, used in the metrics. */
  readonly evaluated: number;
  readonly failed: readonly FailedSubject[];
  readonly predictionsOnly: readonly string[];
  readonly labelsOnly: readonly string[];
  /** Ids with more than one prediction row; the last row was used. */
  readonly duplicatePredictionIds: readonly string[];
}

/** A model named in the predictions file, with the number of evaluated subjects it predicted. */
export interface ModelCount {
  /** `model_id` column, empty when the file has none. */
  readonly id: string;
  /** `model_version` column, empty when the file has none. */
  readonly version: string;
  readonly n: number;
}

/** Everything `dlco eval` reports. DLCO values and errors are in ml/min/mmHg. */
export interface EvaluationReport {
  readonly n: number;
  readonly seed: number;
  readonly resamples: number;
  readonly minStratumSize: number;
  readonly inputs: { readonly predictions: string; readonly labels: string; other?: string };
  readonly subjects: SubjectAccounting;
  /** Models of the evaluated predictions, most subjects first. */
  readonly models: readonly ModelCount[];
  readonly overall: Record<AgreementMetricName, Interval>;
  readonly classification: ClassificationResult;
  readonly calibration: CalibrationResult;
  readonly strata: readonly StratumResult[];
  readonly comparisons: readonly PairedComparison[];
  /** Explanation faithfulness, present when the labels have ground-truth deficit maps. */
  readonly faithfulness?: FaithfulnessReport;
  /**
   * Inputs that are valid but likely wrong (repeated ids, implausible values, a unit mix-up),
   * one sentence each; nothing was converted or dropped because of them.
   */
  readonly warnings: readonly string[];
  /** Per-subject values, written to subjects.csv and plotted in report.html, not metrics.json. */
  readonly points: readonly SubjectPoint[];
}

/**
 * Evaluates model predictions against measured DLCO: agreement metrics, impairment
 * classification, strata and paired comparisons, all with seeded 95 % bootstrap intervals.
 *
 * @throws EvalInputError `EVAL_TOO_FEW_SUBJECTS` when fewer than 3 subjects remain after the
 *   join, and `EVAL_COLUMN_MISSING` for a strata column that the manifest lacks.
 * @example
 * const report = evaluatePredictions(predictions, labels, { seed: 7, strata: ['site'] });
 * report.overall.mae; // { estimate, lower, upper, undefinedResamples }
 */
export function evaluatePredictions(
  predictions: PredictionsFile,
  labels: LabelsFile,
  options: EvaluationOptions = {},
): EvaluationReport {
  const bootstrap = {
    resamples: options.resamples ?? DEFAULT_BOOTSTRAP_RESAMPLES,
    seed: options.seed ?? DEFAULT_BOOTSTRAP_SEED,
    minStratumSize: options.minStratumSize ?? DEFAULT_MIN_STRATUM_SIZE,
  };
  const strata = selectStrata(labels.metadataColumns, options.strata ?? [], labels.path);
  const joined = joinSubjects(predictions, labels);
  const subjects = joined.subjects;
  if (subjects.length < MIN_EVALUATED_SUBJECTS) {
    throw new EvalInputError(
      'EVAL_TOO_FEW_SUBJECTS',
      `only ${subjects.length} subjects have both a label in ${labels.path} and an ok ` +
        `prediction in ${predictions.path} (${joined.failed.length} failed, ` +
        `${joined.labelsOnly.length} without prediction); at least ${MIN_EVALUATED_SUBJECTS} ` +
        'are needed. Check that the ids of both files match.',
      { file: predictions.path, column: 'id' },
    );
  }

  const estimate = subjects.map((subject) => subject.estimate);
  const measured = subjects.map((subject) => subject.measured);
  const warnings = inputWarnings(predictions, labels, subjects);
  if (subjects.length < SMALL_COHORT_SUBJECTS) {
    warnings.push(
      `only ${subjects.length} subjects were evaluated; bootstrap intervals from fewer than ` +
        `${SMALL_COHORT_SUBJECTS} subjects are unstable, so read them as rough.`,
    );
  }
  return {
    n: subjects.length,
    ...bootstrap,
    inputs: {
      predictions: predictions.path,
      labels: labels.path,
      ...(options.other ? { other: options.other.predictions.path } : {}),
    },
    subjects: {
      evaluated: subjects.length,
      failed: joined.failed,
      predictionsOnly: joined.predictionsOnly,
      labelsOnly: joined.labelsOnly,
      duplicatePredictionIds: predictions.duplicateIds,
    },
    models: countModels(subjects),
    overall: evaluateAgreement(estimate, measured, bootstrap),
    classification: evaluateClassification(subjects, bootstrap),
    calibration: evaluateCalibration(subjects, bootstrap),
    strata: strata.map((stratum) => evaluateStratum(stratum, subjects, bootstrap)),
    comparisons: comparisons(subjects, options.other, bootstrap, warnings),
    warnings,
    points: subjectPoints(subjects),
  };
}

function countModels(subjects: readonly EvaluatedSubject[]): ModelCount[] {
  const counts = new Map<string, ModelCount>();
  for (const { prediction } of subjects) {
    const id = prediction.modelId ?? '';
    const version = prediction.modelVersion ?? '';
    const key = JSON.stringify([id, version]);
    counts.set(key, { id, version, n: (counts.get(key)?.n ?? 0) + 1 });
  }
  return [...counts.values()].sort((a, b) => b.n - a.n);
}

/** Compares the model with the baseline column and with another predictions file, if given. */
function comparisons(
  subjects: readonly EvaluatedSubject[],
  other: EvaluationOptions['other'],
  bootstrap: { resamples: number; seed: number },
  warnings: string[],
): PairedComparison[] {
  const results: PairedComparison[] = [];
  const withBaseline = subjects.filter((subject) => subject.prediction.baselineEstimate !== null);
  if (withBaseline.length >= MIN_EVALUATED_SUBJECTS) {
    results.push(
      comparePredictors(
        'model',
        withBaseline.map((subject) => subject.estimate),
        'baseline_estimate',
        withBaseline.map((subject) => subject.prediction.baselineEstimate!),
        withBaseline.map((subject) => subject.measured),
        bootstrap,
      ),
    );
  }
  if (other !== undefined) {
    const otherById = new Map(
      other.predictions.records
        .filter((record) => record.status === 'ok' && record.estimate !== null)
        .map((record) => [record.id, record.estimate!]),
    );
    const paired = subjects.filter((subject) => otherById.has(subject.id));
    if (paired.length < MIN_EVALUATED_SUBJECTS) {
      throw new EvalInputError(
        'EVAL_TOO_FEW_SUBJECTS',
        `only ${paired.length} evaluated subjects have an ok prediction in ` +
          `${other.predictions.path}; at least ${MIN_EVALUATED_SUBJECTS} are needed for a ` +
          'paired comparison. Check that both predictions files cover the same ids.',
        { file: other.predictions.path, column: 'id' },
      );
    }
    const unpaired = subjects.filter((subject) => !otherById.has(subject.id));
    if (unpaired.length > 0) {
      const shown = unpaired.slice(0, 10).map((subject) => subject.id);
      warnings.push(
        `${other.predictions.path} has no ok prediction for ${unpaired.length} evaluated ` +
          `subjects (${shown.join(', ')}${unpaired.length > 10 ? ', ...' : ''}), so the ` +
          `comparison with it uses the other ${paired.length}.`,
      );
    }
    results.push(
      comparePredictors(
        'model',
        paired.map((subject) => subject.estimate),
        other.name,
        paired.map((subject) => otherById.get(subject.id)!),
        paired.map((subject) => subject.measured),
        bootstrap,
      ),
    );
  }
  return results;
}
