import { join } from 'node:path';

import {
  isModelError,
  predictScan,
  writePrediction,
  type DlcoModel,
  type ExplanationName,
  type Prediction,
} from '@dlco/model';
import { InputError, isInputError, type Logger } from '@dlco/preprocess';

import type { ScanProgress } from '../progress.ts';
import { rowInputHash, rowName, subjectFromRow, type BatchRow } from './batch-manifest.ts';
import { failedRow, okRow, type PredictionsWriter } from './batch-predictions.ts';
import { omitFileName } from './predict.ts';
import { UNEXPECTED_ERROR_CODE, type ScanFailure } from './preprocess-jobs.ts';

export interface BatchRunOptions {
  model: DlcoModel;
  outDir: string;
  explain: ExplanationName[];
  /** Scans in flight at once, at least 1. */
  concurrency: number;
  predictions: PredictionsWriter;
  logger: Logger;
  progress: ScanProgress;
  /** False to record each scan's file name as not recorded (`--no-file-name`). */
  recordFileName: boolean;
  /** Writes extra files such as an overlay image into each result folder. */
  writeExtraFiles?: (stagingDir: string, prediction: Prediction) => Promise<void>;
}

export interface BatchRunSummary {
  ok: string[];
  failures: ScanFailure[];
}

/**
 * Predicts each row and appends its outcome to predictions.csv as soon as it is known, so an
 * interrupted run loses at most the scans in flight. Up to `concurrency` scans run at once.
 *
 * NOTE: preprocessing runs on the one JavaScript thread, so concurrency only overlaps a scan's
 * ONNX Runtime inference (on its own thread pool) and file I/O with another scan's
 * preprocessing, at the cost of one more scan's arrays in memory. Separate processes with
 * --shard use more cores.
 */
export async function runBatchRows(
  rows: readonly BatchRow[],
  options: BatchRunOptions,
): Promise<BatchRunSummary> {
  const summary: BatchRunSummary = { ok: [], failures: [] };
  let next = 0;
  const worker = async () => {
    while (next < rows.length) {
      const row = rows[next++];
      await runRow(row, options, summary);
    }
  };
  const workers = Array.from({ length: Math.min(options.concurrency, rows.length) }, worker);
  await Promise.all(workers);
  return summary;
}

async function runRow(
  row: BatchRow,
  options: BatchRunOptions,
  summary: BatchRunSummary,
): Promise<void> {
  const { model, logger, progress } = options;
  const started = performance.now();
  try {
    if (row.path === '') {
      throw new InputError('INPUT_NOT_FOUND', `${rowName(row)}: the path cell is empty`);
    }
    logger.info({ id: row.id, path: row.path }, 'predicting scan');
    const prediction = await predictScan(row.path, subjectFromRow(row), {
      model,
      explain: options.explain,
      logger,
    });
    if (!options.recordFileName) omitFileName(prediction);
    await writePrediction(join(options.outDir, row.id), prediction, {
      writeExtraFiles: options.writeExtraFiles,
    });
    await options.predictions.append(okRow(row.id, prediction.result, rowInputHash(row)));
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    const estimate = prediction.result.dlco.estimate.toFixed(2);
    logger.info({ id: row.id, estimate, seconds }, 'scan predicted');
    summary.ok.push(row.id);
    progress.advance(row.id, `${estimate} ml/min/mmHg in ${seconds} s`);
  } catch (error) {
    const failure = describeFailure(row.id, error);
    logger.error({ id: row.id, code: failure.code, error: failure.message }, 'scan failed');
    const card = model.card;
    await options.predictions.append(
      failedRow(row.id, failure.code, failure.message, {
        id: card.modelId,
        version: card.modelVersion,
      }, rowInputHash(row)),
    );
    summary.failures.push(failure);
    progress.advance(row.id, `failed [${failure.code}]`);
  }
}

function describeFailure(id: string, error: unknown): ScanFailure {
  if (isInputError(error) || isModelError(error)) {
    // Model errors other than METADATA_INVALID come from the model or the machine.
    const inputError = isInputError(error) || error.code === 'METADATA_INVALID';
    return { id, code: error.code, message: error.message, inputError };
  }
  const message = error instanceof Error ? error.message : String(error);
  return { id, code: UNEXPECTED_ERROR_CODE, message, inputError: false };
}
