import { randomBytes } from 'node:crypto';
import { open, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

import type { PredictionResult } from '@dlco/model';

import { parseCsv } from '../manifest.ts';

export const PREDICTIONS_FILE = 'predictions.csv';

/**
 * Columns of predictions.csv. DLCO values (estimate to baseline_estimate) are in the `unit`
 * column's unit, ml/min/mmHg; `error` is `CODE: message` for a failed scan.
 */
export const PREDICTION_COLUMNS = [
  'id',
  'estimate',
  'lower',
  'upper',
  'predicted',
  'lln',
  'z_score',
  'percent_predicted',
  'baseline_estimate',
  'unit',
  'lung_volume_ml',
  'model_id',
  'model_version',
  'input_hash',
  'status',
  'error',
] as const;

export type PredictionColumn = (typeof PREDICTION_COLUMNS)[number];
export type PredictionRow = Record<PredictionColumn, string>;

/** Builds the predictions.csv row of a scan that was estimated. */
export function okRow(id: string, result: PredictionResult, inputHash = ''): PredictionRow {
  const { dlco } = result;
  return {
    id,
    estimate: formatNumber(dlco.estimate),
    lower: formatNumber(dlco.lower),
    upper: formatNumber(dlco.upper),
    predicted: formatNumber(dlco.predicted),
    lln: formatNumber(dlco.lln),
    z_score: formatNumber(dlco.zScore),
    percent_predicted: formatNumber(dlco.percentPredicted),
    baseline_estimate: formatNumber(result.baseline?.estimateMlMinMmHg ?? null),
    unit: dlco.unit,
    lung_volume_ml: formatNumber(result.preprocessing.lungVolumeMl),
    model_id: result.model.id,
    model_version: result.model.version,
    input_hash: inputHash,
    status: 'ok',
    error: '',
  };
}

/** Builds the predictions.csv row of a scan that failed with error `code`. */
export function failedRow(
  id: string,
  code: string,
  message: string,
  model: { id: string; version: string },
  inputHash = '',
): PredictionRow {
  const row = Object.fromEntries(PREDICTION_COLUMNS.map((column) => [column, ''])) as PredictionRow;
  return {
    ...row,
    id,
    model_id: model.id,
    model_version: model.version,
    input_hash: inputHash,
    status: 'failed',
    error: `${code}: ${message.replace(/\s+/g, ' ').trim()}`,
  };
}

/**
 * Reads predictions.csv and returns the last row of each id, because a re-tried scan appends a
 * new row after its failed one. Returns an empty map when the file does not exist.
 *
 * @throws Error when the file's header differs from `PREDICTION_COLUMNS`, since appending to it
 *   would misalign the columns.
 */
export async function readPredictions(path: string): Promise<Map<string, PredictionRow>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return new Map();
    throw error;
  }
  const rows = parseCsv(text);
  const header = rows.shift() ?? [];
  if (header.join(',') !== PREDICTION_COLUMNS.join(',')) {
    throw new Error(
      `${path} has the columns ${header.join(',')}, not ${PREDICTION_COLUMNS.join(',')}; ` +
        'pass a new --out folder or remove the file',
    );
  }
  const latest = new Map<string, PredictionRow>();
  for (const fields of rows) {
    if (fields.length !== PREDICTION_COLUMNS.length) continue;
    const row = Object.fromEntries(
      PREDICTION_COLUMNS.map((column, index) => [column, fields[index]]),
    ) as PredictionRow;
    latest.set(row.id, row);
  }
  return latest;
}

/**
 * Appends rows to predictions.csv, writing the header first when the file is new.
 *
 * Each row goes out in one `write` on a file opened for appending (O_APPEND), so rows from
 * concurrent scans, or from shards of other processes writing to the same folder, do not
 * interleave. A row cut short by a crash has no line end; `repairPredictions` removes it.
 */
export class PredictionsWriter {
  readonly path: string;
  #queue: Promise<void> = Promise.resolve();

  constructor(path: string) {
    this.path = path;
  }

  /** Creates the file with its header unless it exists, and drops a partial last row. */
  async init(): Promise<void> {
    try {
      await writeFile(this.path, `${PREDICTION_COLUMNS.join(',')}\n`, { flag: 'wx' });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      await repairPredictions(this.path);
    }
  }

  /** Appends one row; calls are written in the order they were made. */
  append(row: PredictionRow): Promise<void> {
    const line = Buffer.from(`${formatCsvRow(PREDICTION_COLUMNS.map((column) => row[column]))}\n`);
    this.#queue = this.#queue.then(async () => {
      const handle = await open(this.path, 'a');
      try {
        const { bytesWritten } = await handle.write(line);
        if (bytesWritten !== line.length) {
          throw new Error(`short write to ${this.path}: ${bytesWritten} of ${line.length} bytes`);
        }
        await handle.sync();
      } finally {
        await handle.close();
      }
    });
    return this.#queue;
  }
}

/** Removes a last line without a line end, left by a process that stopped while appending. */
async function repairPredictions(path: string): Promise<void> {
  const text = await readFile(path, 'utf8');
  if (text === '' || text.endsWith('\n')) return;
  await replaceFile(path, text.slice(0, text.lastIndexOf('\n') + 1));
}

/**
 * Rewrites predictions.csv with one row per id (its last one), in `order`, then the ids not in
 * `order`. The new file replaces the old one by rename, so readers see one or the other whole.
 */
export async function compactPredictions(path: string, order: readonly string[]): Promise<void> {
  const latest = await readPredictions(path);
  const ids = [...order.filter((id) => latest.has(id))];
  for (const id of latest.keys()) if (!order.includes(id)) ids.push(id);
  const lines = [
    PREDICTION_COLUMNS.join(','),
    ...ids.map((id) => formatCsvRow(PREDICTION_COLUMNS.map((column) => latest.get(id)![column]))),
  ];
  await replaceFile(path, `${lines.join('\n')}\n`);
}

async function replaceFile(path: string, text: string): Promise<void> {
  const staging = join(dirname(path), `.${basename(path)}.tmp-${randomBytes(4).toString('hex')}`);
  try {
    await writeFile(staging, text);
    await rename(staging, path);
  } catch (error) {
    await rm(staging, { force: true });
    throw error;
  }
}

/** Formats one CSV row, quoting fields that contain a comma, a quote or a line end (RFC 4180). */
export function formatCsvRow(fields: readonly string[]): string {
  return fields
    .map((field) => (/[",\r\n]/.test(field) ? `"${field.replace(/"/g, '""')}"` : field))
    .join(',');
}

function formatNumber(value: number | null): string {
  if (value === null || !Number.isFinite(value)) return '';
  return String(Number(value.toFixed(4)));
}
