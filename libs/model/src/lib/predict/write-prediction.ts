import { randomBytes } from 'node:crypto';
import { mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';

import { writeFloatVolume, writeLabelVolume, type GridGeometry } from '@dlco/preprocess';

import { ModelError } from '../errors.ts';
import type { Prediction } from './prediction-types.ts';
import { resultSchemaErrors } from './result-schema.ts';

export const RESULT_FILE = 'result.json';

export interface WritePredictionOptions {
  /**
   * Writes extra files (for example an overlay image) into the staging folder before it is moved
   * into place, so they appear together with the other files or not at all.
   */
  writeExtraFiles?: (stagingDir: string, prediction: Prediction) => Promise<void>;
}

/**
 * Writes `result.json`, `map.nii.gz`, `lung-mask.nii.gz` (and `sliding-window.nii.gz` when
 * computed) into `outDir`. The maps have the input's exact size, spacing, origin and direction.
 *
 * Every file goes to a staging folder next to `outDir` first, which is renamed to `outDir` once
 * all are written. A failure removes the staging folder, so `outDir` never contains a partial
 * result. An existing `outDir` is replaced only when it is empty or contains nothing but an earlier
 * result's files.
 *
 * @throws ModelError `OUTPUT_EXISTS` when `outDir` contains other files, and `MODEL_RUNTIME_FAILED`
 *   when the result does not follow its schema (a defect, never an input problem).
 * @example
 * await writePrediction('out/chest', await predictScan(scan, subject, { model }));
 */
export async function writePrediction(
  outDir: string,
  prediction: Prediction,
  options: WritePredictionOptions = {},
): Promise<void> {
  const target = resolve(outDir);
  const errors = resultSchemaErrors(prediction.result);
  if (errors.length > 0) {
    throw new ModelError(
      'MODEL_RUNTIME_FAILED',
      `The result does not follow schema/result.schema.json, so nothing was written: ${errors.join('; ')}`,
      { errors },
    );
  }
  await checkPredictionOutDir(target);

  const parent = dirname(target);
  await mkdir(parent, { recursive: true });
  const suffix = `${process.pid}-${randomBytes(4).toString('hex')}`;
  const staging = join(parent, `.${basename(target)}.tmp-${suffix}`);
  await mkdir(staging);
  try {
    await writeFiles(staging, prediction);
    await options.writeExtraFiles?.(staging, prediction);
    await moveIntoPlace(staging, target, suffix);
  } catch (error) {
    await rm(staging, { recursive: true, force: true });
    throw error;
  }
}

async function writeFiles(dir: string, prediction: Prediction): Promise<void> {
  const geometry: GridGeometry = prediction.preprocessed.working.source;
  await writeFile(join(dir, RESULT_FILE), `${JSON.stringify(prediction.result, null, 2)}\n`);
  await writeFloatVolume(join(dir, 'map.nii.gz'), geometry, prediction.maps.map);
  await writeLabelVolume(join(dir, 'lung-mask.nii.gz'), {
    ...geometry,
    data: prediction.maps.lungMask,
  });
  if (prediction.maps.slidingWindow) {
    await writeFloatVolume(
      join(dir, 'sliding-window.nii.gz'),
      geometry,
      prediction.maps.slidingWindow,
    );
  }
}

/**
 * Files a prediction writes. A folder is replaced only when it contains a result and nothing
 * else, so files a user put beside an earlier result are never deleted.
 */
const PREDICTION_FILES = new Set([
  RESULT_FILE,
  'map.nii.gz',
  'lung-mask.nii.gz',
  'sliding-window.nii.gz',
  'overlay.png',
]);

/**
 * Checks that `outDir` may receive a result: it is missing, empty or holds only an earlier
 * result's files. Callers can run it before a long computation to fail early.
 *
 * @throws ModelError `OUTPUT_EXISTS` when `outDir` contains other files.
 */
export async function checkPredictionOutDir(outDir: string): Promise<void> {
  const target = resolve(outDir);
  let entries: string[];
  try {
    entries = await readdir(target);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  if (entries.length === 0) return;

  const others = entries.filter((entry) => !PREDICTION_FILES.has(entry));
  if (!entries.includes(RESULT_FILE) || others.length > 0) {
    const shown = (others.length > 0 ? others : entries).slice(0, 5).join(', ');
    throw new ModelError(
      'OUTPUT_EXISTS',
      `Output folder ${target} contains files that are not part of a dlco result (${shown}). ` +
        'Pass a new or empty folder to --out, or a folder holding only an earlier result.',
      { outDir: target, otherEntries: others },
    );
  }
}

/** Renames `staging` to `target`, moving an earlier result aside first and removing it after. */
async function moveIntoPlace(staging: string, target: string, suffix: string): Promise<void> {
  const previous = join(dirname(target), `.${basename(target)}.old-${suffix}`);
  let moved = false;
  try {
    await rename(target, previous);
    moved = true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  try {
    await rename(staging, target);
  } catch (error) {
    if (moved) await rename(previous, target);
    throw error;
  }
  if (moved) await rm(previous, { recursive: true, force: true });
}
