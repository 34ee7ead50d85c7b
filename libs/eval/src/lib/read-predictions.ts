import { EvalInputError } from './errors.ts';
import { parseOptionalNumber, readCsvTable } from './read-csv.ts';

/** The only DLCO unit accepted in a `unit` column. */
export const DLCO_UNIT = 'ml/min/mmHg';

/** Columns that predictions.csv must have. */
export const REQUIRED_PREDICTION_COLUMNS = ['id', 'estimate'] as const;

/** One subject's row of a predictions CSV. DLCO values are in ml/min/mmHg. */
export interface PredictionRecord {
  readonly id: string;
  /** `failed` rows carry no estimate and are reported, never used in metrics. */
  readonly status: 'ok' | 'failed';
  /** Estimated DLCO in ml/min/mmHg; null only when `status` is `failed`. */
  readonly estimate: number | null;
  /** Lower bound of the estimate's interval in ml/min/mmHg. */
  readonly lower: number | null;
  /** Upper bound of the estimate's interval in ml/min/mmHg. */
  readonly upper: number | null;
  /** Reference (predicted) DLCO for the subject in ml/min/mmHg. */
  readonly predicted: number | null;
  /** Lower limit of normal in ml/min/mmHg. */
  readonly lln: number | null;
  /** z-score of the estimate against the reference, unitless. */
  readonly zScore: number | null;
  /** Estimate as a percentage of the reference value. */
  readonly percentPredicted: number | null;
  /** Estimate of the global-CT-metric baseline in ml/min/mmHg. */
  readonly baselineEstimate: number | null;
  /** `CODE: message` of a failed row, empty otherwise. */
  readonly error: string;
  /** `model_id` column; empty or absent when the file has none. */
  readonly modelId?: string;
  /** `model_version` column; empty or absent when the file has none. */
  readonly modelVersion?: string;
}

/** Predictions read from one CSV file. */
export interface PredictionsFile {
  readonly path: string;
  readonly records: readonly PredictionRecord[];
  /**
   * Ids that had more than one row. The last row of each was kept, because `dlco batch` appends
   * a row when it retries a failed scan. Two ok rows of one id with different estimates are
   * rejected instead.
   */
  readonly duplicateIds: readonly string[];
}

/**
 * Reads a predictions CSV such as the `predictions.csv` of `dlco batch`. Only `id` and
 * `estimate` are required. A missing `status` column means every row is `ok`.
 *
 * @param path - path of the CSV file
 * @throws EvalInputError `EVAL_FILE_NOT_FOUND`, `EVAL_COLUMN_MISSING`, or `EVAL_INPUT_INVALID`
 *   for an empty id, an unknown status, a non-numeric cell, an `ok` row without estimate or
 *   with an estimate not above 0, a lower bound above the upper bound, a `unit` other than
 *   ml/min/mmHg, or two ok rows of one id with different estimates.
 * @example
 * const predictions = await readPredictionsFile('out/predictions.csv');
 */
export async function readPredictionsFile(path: string): Promise<PredictionsFile> {
  const table = await readCsvTable(path, REQUIRED_PREDICTION_COLUMNS);
  const byId = new Map<string, PredictionRecord>();
  const duplicateIds = new Set<string>();

  table.rows.forEach((row, index) => {
    const rowNumber = index + 1;
    const number = (column: string, required = false) =>
      parseOptionalNumber(table, row, column, rowNumber, required);
    const id = row.id;
    if (id === '') {
      throw new EvalInputError(
        'EVAL_INPUT_INVALID',
        `${path} row ${rowNumber}: column id is empty. Give every row an id.`,
        { file: path, column: 'id' },
      );
    }
    const status = row.status === undefined || row.status === '' ? 'ok' : row.status;
    if (status !== 'ok' && status !== 'failed') {
      throw new EvalInputError(
        'EVAL_INPUT_INVALID',
        `${path} row ${rowNumber} (id ${id}): column status is '${status}'; expected ok or ` +
          'failed.',
        { file: path, column: 'status' },
      );
    }
    const estimate = number('estimate', status === 'ok');
    if (status === 'ok' && estimate === null) {
      throw new EvalInputError(
        'EVAL_INPUT_INVALID',
        `${path} row ${rowNumber} (id ${id}): column estimate is empty in an ok row. ` +
          'Fill it in or set status to failed.',
        { file: path, column: 'estimate' },
      );
    }
    if (status === 'ok' && estimate !== null && estimate <= 0) {
      throw new EvalInputError(
        'EVAL_INPUT_INVALID',
        `${path} row ${rowNumber} (id ${id}): column estimate is ${row.estimate}; a DLCO ` +
          'estimate in ml/min/mmHg must be above 0. Fix the value or set status to failed.',
        { file: path, column: 'estimate' },
      );
    }
    const lower = number('lower');
    const upper = number('upper');
    if (lower !== null && upper !== null && lower > upper) {
      throw new EvalInputError(
        'EVAL_INPUT_INVALID',
        `${path} row ${rowNumber} (id ${id}): lower ${row.lower} is above upper ${row.upper}. ` +
          'Swap the bounds or fix the interval.',
        { file: path, column: 'lower' },
      );
    }
    const unit = row.unit ?? '';
    if (unit !== '' && unit !== DLCO_UNIT) {
      throw new EvalInputError(
        'EVAL_INPUT_INVALID',
        `${path} row ${rowNumber} (id ${id}): column unit is '${unit}'; labels are compared ` +
          `in ${DLCO_UNIT}. Convert the estimates to ${DLCO_UNIT} first.`,
        { file: path, column: 'unit' },
      );
    }
    const earlier = byId.get(id);
    if (earlier !== undefined) {
      duplicateIds.add(id);
      if (earlier.status === 'ok' && status === 'ok' && earlier.estimate !== estimate) {
        throw new EvalInputError(
          'EVAL_INPUT_INVALID',
          `${path} row ${rowNumber}: id ${id} repeats with estimate ${row.estimate}, but an ` +
            `earlier ok row has ${earlier.estimate}. Keep one row per id.`,
          { file: path, column: 'id' },
        );
      }
    }
    byId.set(id, {
      id,
      status,
      estimate: status === 'ok' ? estimate : null,
      lower,
      upper,
      predicted: number('predicted'),
      lln: number('lln'),
      zScore: number('z_score'),
      percentPredicted: number('percent_predicted'),
      baselineEstimate: number('baseline_estimate'),
      error: row.error ?? '',
      modelId: row.model_id ?? '',
      modelVersion: row.model_version ?? '',
    });
  });

  return { path, records: [...byId.values()], duplicateIds: [...duplicateIds] };
}
