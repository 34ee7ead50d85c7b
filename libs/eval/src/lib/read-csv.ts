import { readFile } from 'node:fs/promises';

import { csvParseRows } from 'd3-dsv';

import { EvalInputError } from './errors.ts';

/** A CSV file read as strings: its header and one record per row, keyed by column. */
export interface CsvTable {
  readonly path: string;
  readonly columns: readonly string[];
  readonly rows: readonly Record<string, string>[];
}

/**
 * Reads a CSV file with d3-dsv (RFC 4180 quoting, LF or CRLF line ends), keeping every cell as
 * a trimmed string so that ids such as `007` keep their leading zeros and empty cells stay
 * distinguishable from zero. A leading UTF-8 byte order mark, as Excel writes, is removed, and
 * blank lines at the end are ignored.
 *
 * @throws EvalInputError `EVAL_FILE_NOT_FOUND` when the file cannot be read,
 *   `EVAL_INPUT_INVALID` when it is empty, has a header but no rows, repeats a column name, or
 *   has a blank row or a row whose field count differs from the header's, and
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
  if (text.charCodeAt(0) === BYTE_ORDER_MARK) text = text.slice(1);
  const lines = csvParseRows(text);
  while (lines.length > 0 && isBlank(lines[lines.length - 1])) lines.pop();
  if (lines.length === 0) {
    throw invalid(path, `${path} is empty. Expected a header line and one row per subject.`);
  }
  const columns = lines[0].map((name) => name.trim());
  checkHeader(path, columns, required);
  if (lines.length === 1) {
    throw invalid(path, `${path} has a header but no rows. Add one row per subject.`);
  }

  const rows = lines.slice(1).map((cells, index) => {
    const rowNumber = index + 1;
    if (isBlank(cells)) {
      throw invalid(path, `${path} row ${rowNumber} is blank. Remove the empty line.`);
    }
    if (cells.length !== columns.length) {
      throw invalid(
        path,
        `${path} row ${rowNumber} has ${cells.length} fields, but the header has ` +
          `${columns.length} (${columns.join(',')}). Fix the row, or quote a field that ` +
          'contains a comma.',
      );
    }
    const record: Record<string, string> = {};
    columns.forEach((column, i) => {
      record[column] = cells[i].trim();
    });
    return record;
  });
  return { path, columns, rows };
}

const BYTE_ORDER_MARK = 0xfeff;

function isBlank(cells: readonly string[]): boolean {
  return cells.every((cell) => cell.trim() === '');
}

function invalid(path: string, message: string): EvalInputError {
  return new EvalInputError('EVAL_INPUT_INVALID', message, { file: path });
}

function checkHeader(path: string, columns: readonly string[], required: readonly string[]): void {
  const repeated = columns.filter((column, i) => column !== '' && columns.indexOf(column) !== i);
  if (repeated.length > 0) {
    throw invalid(
      path,
      `${path} repeats the column ${[...new Set(repeated)].join(', ')} in its header. ` +
        'Give every column one name.',
    );
  }
  const missing = required.filter((column) => !columns.includes(column));
  if (missing.length > 0) {
    throw new EvalInputError(
      'EVAL_COLUMN_MISSING',
      `${path} lacks the column ${missing.join(', ')}; its header is ` +
        `${columns.join(',') || '(empty)'}. Add the column or pass the right file.`,
      { file: path, column: missing[0] },
    );
  }
}

/**
 * Parses an optional numeric cell, returning null for an empty cell. Only decimal notation is
 * accepted (`23`, `-1.5`, `2.1e1`), so `0x17`, `0b1` or `Infinity`, which JavaScript's `Number`
 * would read, are rejected.
 *
 * @param rowNumber - 1-based data row number, for the error message
 * @param required - whether an empty cell is an error elsewhere, so the fix does not suggest it
 * @throws EvalInputError `EVAL_INPUT_INVALID` for text that is not a finite decimal number.
 */
export function parseOptionalNumber(
  table: CsvTable,
  row: Record<string, string>,
  column: string,
  rowNumber: number,
  required = false,
): number | null {
  const text = row[column] ?? '';
  if (text === '') return null;
  const value = DECIMAL_NUMBER.test(text) ? Number(text) : NaN;
  if (!Number.isFinite(value)) {
    throw new EvalInputError(
      'EVAL_INPUT_INVALID',
      `${table.path} row ${rowNumber} (id ${row.id}): column ${column} is '${text}', not a ` +
        `finite decimal number. ${required ? 'Fix the cell.' : 'Fix the cell or leave it empty.'}`,
      { file: table.path, column },
    );
  }
  return value;
}

/** A decimal number with an optional sign, fraction and exponent, and nothing else. */
const DECIMAL_NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
