import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';

import {
  checkSubjectMetadata,
  isModelError,
  ModelError,
  type SubjectFieldLabels,
  type SubjectMetadata,
} from '@dlco/model';
import { InputError } from '@dlco/preprocess';

import { isValidScanId, parseCsv, SCAN_ID_RULE } from '../manifest.ts';

/** Columns every batch manifest must name in its header row. */
export const REQUIRED_BATCH_COLUMNS = [
  'id',
  'path',
  'age',
  'sex',
  'height_cm',
  'weight_kg',
] as const;

const SUBJECT_COLUMNS = ['age', 'sex', 'height_cm', 'weight_kg'] as const;

/** Columns a batch manifest may add; an empty cell means the value is unknown. */
export const OPTIONAL_BATCH_COLUMNS = [
  'smoking',
  'pack_years',
  'hb_g_dl',
  'cohb_percent',
] as const;

/**
 * One manifest row. `subject` is the row's metadata as written; it is checked when the row runs,
 * so an invalid value fails that scan with `METADATA_INVALID` and not the whole manifest.
 */
export interface BatchRow {
  id: string;
  /** Absolute path of the scan file, DICOM folder or .zip; empty when the cell is empty. */
  path: string;
  /** 1-based line of the row in the manifest, for messages. */
  line: number;
  cells: Record<string, string>;
}

/**
 * Reads a batch manifest CSV. The header row names at least the columns `id`, `path`, `age`,
 * `sex`, `height_cm` and `weight_kg`. Relative paths are resolved against the manifest's folder.
 *
 * @throws InputError `MANIFEST_INVALID` when the file cannot be read, a column is missing, or an
 *   id is invalid or repeats, because ids name the result folders and rows of predictions.csv.
 */
export async function readBatchManifest(manifestPath: string): Promise<BatchRow[]> {
  let text: string;
  try {
    text = await readFile(manifestPath, 'utf8');
  } catch (error) {
    throw new InputError(
      'MANIFEST_INVALID',
      `manifest ${manifestPath} cannot be read: ${(error as Error).message}`,
    );
  }
  const rows = parseCsv(text.replace(/^\uFEFF/, ''));
  const header = (rows.shift() ?? []).map((name) => name.trim().toLowerCase());
  const missing = REQUIRED_BATCH_COLUMNS.filter((column) => !header.includes(column));
  if (missing.length > 0) {
    throw new InputError(
      'MANIFEST_INVALID',
      `manifest ${manifestPath} lacks the column(s) ${missing.join(', ')}: its header row must ` +
        `name ${REQUIRED_BATCH_COLUMNS.join(', ')} and may add ${OPTIONAL_BATCH_COLUMNS.join(', ')}`,
      { missing },
    );
  }

  const folder = dirname(resolve(manifestPath));
  const seen = new Set<string>();
  const result: BatchRow[] = [];
  rows.forEach((fields, rowIndex) => {
    const line = rowIndex + 2;
    if (fields.every((field) => field.trim() === '')) return;
    const cells: Record<string, string> = {};
    header.forEach((name, column) => (cells[name] = (fields[column] ?? '').trim()));
    const id = cells.id;
    if (!isValidScanId(id)) {
      throw new InputError(
        'MANIFEST_INVALID',
        `manifest ${manifestPath} line ${line}: invalid scan id '${id}': ${SCAN_ID_RULE}`,
      );
    }
    if (seen.has(id)) {
      throw new InputError(
        'MANIFEST_INVALID',
        `manifest ${manifestPath} line ${line}: id '${id}' repeats`,
      );
    }
    seen.add(id);
    const path =
      cells.path === '' || isAbsolute(cells.path) ? cells.path : resolve(folder, cells.path);
    result.push({ id, path, line, cells });
  });
  return result;
}

/** Manifest column of each subject field, for messages. */
const SUBJECT_FIELD_COLUMNS: SubjectFieldLabels = {
  ageYears: 'age',
  sex: 'sex',
  heightCm: 'height_cm',
  weightKg: 'weight_kg',
  smoking: 'smoking',
  packYears: 'pack_years',
  hbGdl: 'hb_g_dl',
  cohbPercent: 'cohb_percent',
};

/**
 * Converts a row's metadata cells to `SubjectMetadata` and checks their ranges.
 *
 * @throws ModelError `METADATA_INVALID` naming the row id, its line and the column when a
 *   required cell is empty, a number cell is not a number or a value is out of range.
 */
export function subjectFromRow(row: BatchRow): SubjectMetadata {
  const subject = readSubjectCells(row);
  try {
    return checkSubjectMetadata(subject, SUBJECT_FIELD_COLUMNS);
  } catch (error) {
    if (!isModelError(error)) throw error;
    throw new ModelError(error.code, `${rowName(row)}: ${error.message}`, {
      ...error.details,
      column: SUBJECT_FIELD_COLUMNS[error.details.field as keyof SubjectFieldLabels],
    });
  }
}

/** Names a row in messages: its id and line, e.g. `row 'a1' (line 2)`. */
export function rowName(row: BatchRow): string {
  return `row '${row.id}' (line ${row.line})`;
}

function readSubjectCells(row: BatchRow): SubjectMetadata {
  const { cells } = row;
  const empty = SUBJECT_COLUMNS.filter((column) => cells[column] === '');
  if (empty.length > 0) {
    throw new ModelError(
      'METADATA_INVALID',
      `${rowName(row)}: empty ${empty.join(', ')}; every row needs age (years), sex (M or F), ` +
        'height_cm and weight_kg',
      { columns: empty },
    );
  }
  const optional = (column: string) => ((cells[column] ?? '') === '' ? undefined : cells[column]);
  const optionalNumber = (column: string) => {
    const text = optional(column);
    return text === undefined ? undefined : parseCell(row, column, text);
  };
  return {
    ageYears: parseCell(row, 'age', cells.age),
    sex: cells.sex.toUpperCase() as SubjectMetadata['sex'],
    heightCm: parseCell(row, 'height_cm', cells.height_cm),
    weightKg: parseCell(row, 'weight_kg', cells.weight_kg),
    smoking: optional('smoking')?.toLowerCase() as SubjectMetadata['smoking'],
    packYears: optionalNumber('pack_years'),
    hbGdl: optionalNumber('hb_g_dl'),
    cohbPercent: optionalNumber('cohb_percent'),
  };
}

function parseCell(row: BatchRow, column: string, text: string): number {
  const value = Number(text);
  if (!Number.isFinite(value)) {
    throw new ModelError(
      'METADATA_INVALID',
      `${rowName(row)}: invalid ${column} '${text}': expected a number`,
      { column },
    );
  }
  return value;
}

/**
 * Hashes what a row's prediction depends on (the resolved scan path and every cell), so a rerun
 * predicts again a row that was edited after it was predicted.
 */
export function rowInputHash(row: BatchRow): string {
  const cells = Object.entries(row.cells).sort(([a], [b]) => a.localeCompare(b));
  const canonical = JSON.stringify({ path: row.path, cells });
  return createHash('sha256').update(canonical).digest('hex').slice(0, 16);
}
