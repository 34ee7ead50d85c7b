import { quantile } from './bootstrap.ts';
import type { EvaluatedSubject } from './join-subjects.ts';
import type { LabelsFile } from './read-labels.ts';
import type { PredictionsFile } from './read-predictions.ts';

/** DLCO in mmol/min/kPa times this factor gives ml/min/mmHg (ERS/ATS 2017 technical standard). */
export const SI_TO_TRADITIONAL_DLCO = 2.986;

/**
 * DLCO range in ml/min/mmHg outside which a value is flagged as implausible. Adults rarely fall
 * below 2 (end-stage disease) or above 80, so a value out there is more likely a unit or typing
 * mistake than a measurement. Values outside are warned about, never dropped.
 */
export const PLAUSIBLE_DLCO = { min: 2, max: 80 } as const;

/**
 * A median below this (ml/min/mmHg), with the other file's median near 2.986 times it, points to
 * values in mmol/min/kPa. The adult normal range in ml/min/mmHg starts at about 15 to 20.
 */
const SI_MEDIAN_LIMIT = 15;

/** Ids listed in one warning before the rest are counted. */
const SHOWN_IDS = 5;

/**
 * Collects warnings about inputs that are valid but likely wrong: repeated prediction ids,
 * DLCO values outside {@link PLAUSIBLE_DLCO}, and one file's values apparently in mmol/min/kPa.
 * Nothing is converted or dropped, so the caller prints the warnings and records them.
 */
export function inputWarnings(
  predictions: PredictionsFile,
  labels: LabelsFile,
  subjects: readonly EvaluatedSubject[],
): string[] {
  const warnings: string[] = [];
  if (predictions.duplicateIds.length > 0) {
    warnings.push(
      `${predictions.path} has more than one row for ${listIds(predictions.duplicateIds)}. ` +
        'The last row of each id is used, because dlco batch appends a row when it retries ' +
        'a failed scan.',
    );
  }
  const implausible = (values: (subject: EvaluatedSubject) => number) =>
    subjects
      .filter((subject) => {
        const value = values(subject);
        return value < PLAUSIBLE_DLCO.min || value > PLAUSIBLE_DLCO.max;
      })
      .map((subject) => subject.id);
  const range = `${PLAUSIBLE_DLCO.min} to ${PLAUSIBLE_DLCO.max} ml/min/mmHg`;
  const oddMeasured = implausible((subject) => subject.measured);
  if (oddMeasured.length > 0) {
    warnings.push(
      `${labels.path}: dlco of ${listIds(oddMeasured)} is outside the plausible ${range}. ` +
        'Check the values and their unit.',
    );
  }
  const oddEstimates = implausible((subject) => subject.estimate);
  if (oddEstimates.length > 0) {
    warnings.push(
      `${predictions.path}: estimate of ${listIds(oddEstimates)} is outside the plausible ` +
        `${range}. Check the values and their unit.`,
    );
  }
  const unitWarning = siUnitWarning(predictions, labels, subjects);
  if (unitWarning !== null) warnings.push(unitWarning);
  return warnings;
}

/**
 * Warns when one file's median DLCO is below {@link SI_MEDIAN_LIMIT} and multiplying it by
 * 2.986 brings it closer to the other file's median than it is now. That pattern is what DLCO
 * in mmol/min/kPa compared with ml/min/mmHg looks like.
 */
function siUnitWarning(
  predictions: PredictionsFile,
  labels: LabelsFile,
  subjects: readonly EvaluatedSubject[],
): string | null {
  const measured = median(subjects.map((subject) => subject.measured));
  const estimate = median(subjects.map((subject) => subject.estimate));
  const looksSi = (small: number, large: number) =>
    small < SI_MEDIAN_LIMIT &&
    Math.abs(Math.log(large / (small * SI_TO_TRADITIONAL_DLCO))) <
      Math.abs(Math.log(large / small));
  const rule =
    `1 mmol/min/kPa = ${SI_TO_TRADITIONAL_DLCO} ml/min/mmHg, and the medians are ` +
    `${measured.toFixed(2)} measured and ${estimate.toFixed(2)} estimated`;
  if (looksSi(measured, estimate)) {
    return (
      `${labels.path}: the dlco column looks like mmol/min/kPa, not ml/min/mmHg (${rule}). ` +
      `If so, multiply it by ${SI_TO_TRADITIONAL_DLCO}; nothing was converted.`
    );
  }
  if (looksSi(estimate, measured)) {
    return (
      `${predictions.path}: the estimates look like mmol/min/kPa, not ml/min/mmHg (${rule}). ` +
      `If so, multiply them by ${SI_TO_TRADITIONAL_DLCO}; nothing was converted.`
    );
  }
  return null;
}

function median(values: readonly number[]): number {
  return quantile(Float64Array.from(values).sort(), 0.5);
}

function listIds(ids: readonly string[]): string {
  const shown = ids.slice(0, SHOWN_IDS).join(', ');
  const rest = ids.length - SHOWN_IDS;
  const subjects = ids.length === 1 ? 'subject' : 'subjects';
  return `${ids.length} ${subjects} (${shown}${rest > 0 ? `, and ${rest} more` : ''})`;
}
