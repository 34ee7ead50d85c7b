import { join } from 'node:path';

import {
  createPatchBag,
  InputError,
  isInputError,
  preprocessParamsHash,
  preprocessScan,
  readPatchBagMetadata,
  writePatchBag,
  type Logger,
  type PatchBag,
  type PreprocessParams,
} from '@dlco/preprocess';

import type { ScanJob } from '../manifest.ts';
import type { ScanProgress } from '../progress.ts';

/** Code listed for a failure that is not an `InputError`, such as a full disk or a bug. */
export const UNEXPECTED_ERROR_CODE = 'UNEXPECTED_ERROR';

/** A scan that produced no bag. */
export interface ScanFailure {
  id: string;
  /** `InputError` code, or `UNEXPECTED_ERROR`. */
  code: string;
  message: string;
  inputError: boolean;
}

export interface PreprocessRunSummary {
  written: string[];
  skipped: string[];
  failures: ScanFailure[];
}

export interface PreprocessJobsOptions {
  outDir: string;
  params: PreprocessParams;
  logger: Logger;
  progress: ScanProgress;
  /** Rethrow the first failure instead of listing it and going on with the next scan. */
  stopOnFailure?: boolean;
  /** Turns a scan into a bag. Tests replace it; the default runs `preprocessScan`. */
  buildBag?: (job: ScanJob, params: PreprocessParams, logger: Logger) => Promise<PatchBag>;
}

/**
 * Writes a bag to `<outDir>/<id>/` for each scan, in order. A scan whose bag already exists
 * with the same preprocessing hash is skipped. A failed scan is listed and the run goes on,
 * unless `stopOnFailure` is set.
 */
export async function preprocessJobs(
  jobs: ScanJob[],
  options: PreprocessJobsOptions,
): Promise<PreprocessRunSummary> {
  const { outDir, params, logger, progress } = options;
  const buildBag = options.buildBag ?? buildBagFromScan;
  const hash = preprocessParamsHash(params);
  const summary: PreprocessRunSummary = { written: [], skipped: [], failures: [] };

  for (const job of jobs) {
    const bagDir = join(outDir, job.id);
    if (await hasBagWithHash(bagDir, hash)) {
      logger.info({ id: job.id, bagDir }, 'bag exists with the same preprocessing hash, skipped');
      summary.skipped.push(job.id);
      progress.advance(job.id, 'skipped (bag exists with the same preprocessing hash)');
      continue;
    }

    const started = performance.now();
    try {
      logger.info({ id: job.id, path: job.path }, 'preprocessing scan');
      const bag = await buildBag(job, params, logger);
      await writePatchBag(bagDir, bag);
      const seconds = ((performance.now() - started) / 1000).toFixed(1);
      logger.info({ id: job.id, bagDir, patches: bag.metadata.patchCount, seconds }, 'bag written');
      summary.written.push(job.id);
      progress.advance(job.id, `wrote ${bag.metadata.patchCount} patches in ${seconds} s`);
    } catch (error) {
      if (options.stopOnFailure === true) throw error;
      const failure = describeFailure(job.id, error);
      logger.error({ id: job.id, code: failure.code, error: failure.message }, 'scan failed');
      summary.failures.push(failure);
      progress.advance(job.id, `failed [${failure.code}]`);
    }
  }
  return summary;
}

/** Runs the pipeline on one scan and rejects it when the lungs are not fully covered. */
async function buildBagFromScan(
  job: ScanJob,
  params: PreprocessParams,
  logger: Logger,
): Promise<PatchBag> {
  const result = await preprocessScan(job.path, { params, logger });
  if (!result.coverage.complete) {
    throw new InputError(
      'LUNG_COVERAGE_INCOMPLETE',
      `Lung coverage is incomplete, so no bag was written: ${result.coverage.reasons.join(' ')} ` +
        'Use a scan that covers both lungs from apex to base.',
      { reasons: result.coverage.reasons },
    );
  }
  return createPatchBag(result, job.path);
}

async function hasBagWithHash(bagDir: string, hash: string): Promise<boolean> {
  try {
    const metadata = await readPatchBagMetadata(bagDir);
    return metadata.preprocessingHash === hash;
  } catch {
    // A missing, unreadable or older-format bag is simply written again.
    return false;
  }
}

function describeFailure(id: string, error: unknown): ScanFailure {
  if (isInputError(error)) {
    return { id, code: error.code, message: error.message, inputError: true };
  }
  const message = error instanceof Error ? error.message : String(error);
  return { id, code: UNEXPECTED_ERROR_CODE, message, inputError: false };
}
