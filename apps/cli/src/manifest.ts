import { readFile } from 'node:fs/promises';
import { basename, dirname, extname, isAbsolute, resolve } from 'node:path';

import { InputError } from '@dlco/preprocess';

/** One scan to preprocess: its bag goes to `<out>/<id>/`. */
export interface ScanJob {
  id: string;
  /** Absolute path of the scan file or DICOM folder. */
  path: string;
}

/** Scan ids become folder names, so they are restricted to characters safe in a path. */
const SCAN_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/**
 * Reads a manifest CSV with a header row that names at least the columns `id` and `path`.
 * Relative paths are resolved against the manifest's folder. Fields may be double-quoted, with
 * `""` for a quote inside them.
 *
 * @throws InputError MANIFEST_INVALID naming the line when a column, id or path is missing or
 *   invalid, or when an id repeats.
 */
export async function readManifest(manifestPath: string): Promise<ScanJob[]> {
  const text = await readFile(manifestPath, 'utf8');
  const rows = parseCsv(text.replace(/^\uFEFF/, ''));
  const header = rows.shift()?.map((name) => name.trim().toLowerCase());
  const idColumn = header?.indexOf('id') ?? -1;
  const pathColumn = header?.indexOf('path') ?? -1;
  if (idColumn < 0 || pathColumn < 0) {
    throw new InputError(
      'MANIFEST_INVALID',
      `manifest ${manifestPath} must start with a header row naming the columns id and path`,
    );
  }

  const folder = dirname(resolve(manifestPath));
  const seen = new Set<string>();
  const jobs: ScanJob[] = [];
  rows.forEach((fields, rowIndex) => {
    const line = rowIndex + 2;
    if (fields.every((field) => field.trim() === '')) return;
    const id = (fields[idColumn] ?? '').trim();
    const path = (fields[pathColumn] ?? '').trim();
    checkScanId(id, `manifest ${manifestPath} line ${line}`);
    if (path === '') {
      throw new InputError(
        'MANIFEST_INVALID',
        `manifest ${manifestPath} line ${line}: path is missing`,
      );
    }
    if (seen.has(id)) {
      throw new InputError(
        'MANIFEST_INVALID',
        `manifest ${manifestPath} line ${line}: id '${id}' repeats`,
      );
    }
    seen.add(id);
    jobs.push({ id, path: isAbsolute(path) ? path : resolve(folder, path) });
  });
  return jobs;
}

/**
 * Returns whether `id` can name a bag folder: 1 to 128 letters, digits, dots, dashes or
 * underscores, starting with a letter or digit.
 */
export function isValidScanId(id: string): boolean {
  return SCAN_ID_PATTERN.test(id);
}

/** Rule for scan ids, for error messages. */
export const SCAN_ID_RULE =
  "use 1 to 128 letters, digits, '.', '-' or '_', starting with a letter or digit";

function checkScanId(id: string, where: string): void {
  if (!isValidScanId(id)) {
    throw new InputError('MANIFEST_INVALID', `${where}: invalid scan id '${id}': ${SCAN_ID_RULE}`);
  }
}

/** Derives a scan id from a file or folder name: `ct-64.nrrd` and `ct-64.nii.gz` give `ct-64`. */
export function scanIdFromPath(path: string): string {
  let name = basename(resolve(path));
  if (name.toLowerCase().endsWith('.gz')) name = name.slice(0, -3);
  name = name.slice(0, name.length - extname(name).length) || name;
  const cleaned = name.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^[._-]+/, '');
  return cleaned.slice(0, 128) || 'scan';
}

/** Splits CSV text (RFC 4180: quoted fields, `""` escapes, CRLF or LF line ends) into rows. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let index = 0; index < text.length; index++) {
    const character = text[index];
    if (quoted) {
      if (character === '"' && text[index + 1] === '"') {
        field += '"';
        index++;
      } else if (character === '"') {
        quoted = false;
      } else {
        field += character;
      }
    } else if (character === '"' && field === '') {
      quoted = true;
    } else if (character === ',') {
      row.push(field);
      field = '';
    } else if (character === '\n' || character === '\r') {
      if (character === '\r' && text[index + 1] === '\n') index++;
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
    } else {
      field += character;
    }
  }
  if (field !== '' || row.length > 0) {
    row.push(field);
    rows.push(row);
  }
  return rows;
}
