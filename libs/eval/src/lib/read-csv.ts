import { readFile } from 'node:fs/promises';

import { fromCSV } from 'arquero';

import { EvalInputError } from './errors.ts';

/** A CSV file read as strings: its header and one record per row, keyed by column. */
export interface CsvTable {
  readonly path: string;
  readonly columns: readonly string[];
  readonly rows: readonly Record<string, string>[];
}

/**
 * Reads a CSV file with arquero, keeping every cell as a trimmed string so that ids such as
 * `007` keep their leading zeros and empty cells stay distinguishable from zero.
 *
 * @throws EvalInputError `EVAL_FILE_NOT_FOUND` when the file cannot be read, and
 *   `EVAL_COLUMN_MISSING` when one of `required` is not in the header.
 */
export async function readCsvTable(path: string, required: readonly string[]): Promise<CsvTable> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new EvalInputError(
      'EVAL_FILE_NOT_FOUND',
      `cannot read ${path}: ${(error as Error).message}. Check the path.`,
      { file: path, cause: error },
    );
  }
  const table = fromCSV(text, { autoType: false });
  const columns = table.columnNames();
  const missing = required.filter((column) => !columns.includes(column));
  if (missing.length > 0) {
    throw new EvalInputError(
      'EVAL_COLUMN_MISSING',
      `${path} lacks the column ${missing.join(', ')}; its header is ` +
        `${columns.join(',') || '(empty)'}. Add the column or pass the right file.`,
      { file: path, column: missing[0] },
    );
  }
  const rows = (table.objects() as Record<string, unknown>[]).map((row) => {
    const record: Record<string, string> = {};
    for (const column of columns) record[column] = String(row[column] ?? '').trim();
    return record;
  });
  return { path, columns, rows };
}

/**
 * Parses an optional numeric cell, returning null for an empty cell.
 *
 * @param rowNumber - 1-based data row number, for the error message
 * @throws EvalInputError `EVAL_INPUT_INVALID` for text that is not a finite number.
 */
export function parseOptionalNumber(
  table: CsvTable,
  row: Record<string, string>,
  column: string,
  rowNumber: number,
): number | null {
  const text = row[column] ?? '';
  if (text === '') return null;
  const value = Number(text);
  if (!Number.isFinite(value)) {
    throw new EvalInputError(
      'EVAL_INPUT_INVALID',
      `${table.path} row ${rowNumber} (id ${row.id}): column ${column} is '${text}', not a ` +
        'finite number. Fix the cell or leave it empty.',
      { file: table.path, column },
    );
  }
  return value;
}
