import { EvalInputError } from './errors.ts';
import { parseOptionalNumber, readCsvTable } from './read-csv.ts';

/** Columns that a label manifest must have. */
export const REQUIRED_LABEL_COLUMNS = ['id', 'dlco'] as const;

/** One subject's row of a label manifest. */
export interface LabelRecord {
  readonly id: string;
  /** Measured DLCO in ml/min/mmHg. */
  readonly dlco: number;
  /** Every other column as text (age, sex, height_cm, weight_kg, smoking, ...). */
  readonly metadata: Readonly<Record<string, string>>;
}

/** Labels read from one manifest CSV. */
export interface LabelsFile {
  readonly path: string;
  /** Metadata columns, in header order, without `id` and `dlco`. */
  readonly metadataColumns: readonly string[];
  readonly records: readonly LabelRecord[];
}

/**
 * Reads a label manifest: `id`, the measured `dlco` in ml/min/mmHg, and any metadata columns.
 *
 * @param path - path of the CSV file
 * @throws EvalInputError `EVAL_FILE_NOT_FOUND`, `EVAL_COLUMN_MISSING`, or `EVAL_INPUT_INVALID`
 *   for an empty or repeated id, or a dlco that is missing, not a number or not above 0.
 * @example
 * const labels = await readLabelsFile('cohort/labels.csv');
 */
export async function readLabelsFile(path: string): Promise<LabelsFile> {
  const table = await readCsvTable(path, REQUIRED_LABEL_COLUMNS);
  const metadataColumns = table.columns.filter((column) => column !== 'id' && column !== 'dlco');
  const seen = new Set<string>();

  const records = table.rows.map((row, index): LabelRecord => {
    const rowNumber = index + 1;
    const id = row.id;
    if (id === '' || seen.has(id)) {
      const problem = id === '' ? 'is empty' : `repeats '${id}'`;
      throw new EvalInputError(
        'EVAL_INPUT_INVALID',
        `${path} row ${rowNumber}: column id ${problem}. Give every subject one row.`,
        { file: path, column: 'id' },
      );
    }
    seen.add(id);
    const dlco = parseOptionalNumber(table, row, 'dlco', rowNumber, true);
    if (dlco === null || dlco <= 0) {
      throw new EvalInputError(
        'EVAL_INPUT_INVALID',
        `${path} row ${rowNumber} (id ${id}): column dlco is '${row.dlco}'; expected the ` +
          'measured DLCO in ml/min/mmHg, above 0. Fill it in or remove the row.',
        { file: path, column: 'dlco' },
      );
    }
    const metadata = Object.fromEntries(metadataColumns.map((column) => [column, row[column]]));
    return { id, dlco, metadata };
  });

  return { path, metadataColumns, records };
}
