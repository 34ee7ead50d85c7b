import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

import { EvalInputError } from '../errors.ts';
import type { EvaluationReport } from '../evaluate.ts';
import type { SubjectPoint } from '../subject-points.ts';
import { renderResultMap } from './render-result-map.ts';

/**
 * Map image that `dlco demo` and the server write into a result folder. `dlco batch` writes it
 * only when given an overlay writer, so `renderResultMap` draws the batch folders' maps.
 */
export const OVERLAY_IMAGE_FILE = 'overlay.png';

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** One subject's regional map image, ready to inline in the report. */
export interface ExampleMapImage {
  readonly kind: 'image';
  readonly id: string;
  /** `model_id model_version` of the subject's prediction, empty when unknown. */
  readonly model: string;
  /** Reason for the choice, e.g. `largest estimated deficit with a map`. */
  readonly reason: string;
  /** Path of the overlay.png that was read, or of the result folder whose map was rendered. */
  readonly path: string;
  /** True when the image was rendered from map.nii.gz because overlay.png was missing. */
  readonly rendered: boolean;
  readonly png: Buffer;
  readonly point: SubjectPoint;
  /**
   * Result folders of higher-ranked candidates that were skipped because their map could not be
   * read, one `<dir>: <error>` each; empty or absent when none was skipped.
   */
  readonly unreadable?: readonly string[];
}

/** Reason that no example map is shown. */
export interface ExampleMapMissing {
  readonly kind: 'missing';
  readonly message: string;
}

export type ExampleMap = ExampleMapImage | ExampleMapMissing;

/**
 * Returns the evaluated subjects in the order the report tries them for its example map:
 * largest estimated deficit first (reference DLCO minus estimate, for rows with a `predicted`
 * value), then the lowest estimates of the subjects without a reference value.
 */
export function exampleCandidates(points: readonly SubjectPoint[]): SubjectPoint[] {
  const withReference = points
    .filter((point) => point.predicted !== null)
    .sort((a, b) => b.predicted! - b.estimate - (a.predicted! - a.estimate));
  const withoutReference = points
    .filter((point) => point.predicted === null)
    .sort((a, b) => a.estimate - b.estimate);
  return [...withReference, ...withoutReference];
}

interface FolderImage {
  png: Buffer;
  path: string;
  rendered: boolean;
}

/**
 * Reads `<dir>/overlay.png`, or renders the folder's map.nii.gz when there is no such PNG.
 * Returns null when the folder has neither, and the error text when a file cannot be read, so
 * that a damaged result folder costs the report its example map and never the evaluation.
 */
async function resultImage(dir: string): Promise<FolderImage | string | null> {
  try {
    const overlayPath = join(dir, OVERLAY_IMAGE_FILE);
    const overlay = await readPng(overlayPath);
    if (overlay !== null) return { png: overlay, path: overlayPath, rendered: false };
    const rendered = await renderResultMap(dir);
    return rendered === null ? null : { png: rendered, path: dir, rendered: true };
  } catch (error) {
    return `${dir}: ${error instanceof Error ? error.message : String(error)}`;
  }
}

async function readPng(path: string): Promise<Buffer | null> {
  try {
    const bytes = await readFile(path);
    return bytes.subarray(0, 8).equals(PNG_SIGNATURE) ? bytes : null;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}

function modelOf(point: SubjectPoint): string {
  return `${point.modelId} ${point.modelVersion}`.trim();
}

/**
 * Finds the regional map image of one subject in the result folders of `resultsDir`
 * (`<resultsDir>/<id>/`, the layout of `dlco batch` beside predictions.csv): its overlay.png,
 * or else its map.nii.gz rendered by `renderResultMap`. With `exampleId`, that subject is shown.
 * Without it, the subject with the largest estimated deficit that has a map is shown. When no
 * map exists, it returns the reason instead of failing.
 *
 * @throws EvalInputError `EVAL_INPUT_INVALID` when `exampleId` is not an evaluated subject.
 */
export async function findExampleMap(
  resultsDir: string,
  report: EvaluationReport,
  exampleId?: string,
): Promise<ExampleMap> {
  if (exampleId !== undefined) {
    const point = report.points.find((candidate) => candidate.id === exampleId);
    if (point === undefined) {
      throw new EvalInputError(
        'EVAL_INPUT_INVALID',
        `--example ${exampleId} is not an evaluated subject (it needs a label and an ok ` +
          'prediction). Pass the id of an evaluated subject or leave --example out.',
        { column: 'example' },
      );
    }
    const dir = join(resultsDir, point.id);
    const image = await resultImage(dir);
    if (image === null) {
      return {
        kind: 'missing',
        message: `${dir} has neither an ${OVERLAY_IMAGE_FILE} nor a map with its result.json.`,
      };
    }
    if (typeof image === 'string') {
      return { kind: 'missing', message: `The map of ${point.id} cannot be shown: ${image}.` };
    }
    return {
      kind: 'image',
      id: point.id,
      model: modelOf(point),
      reason: 'chosen',
      ...image,
      point,
    };
  }

  const unreadable: string[] = [];
  for (const point of exampleCandidates(report.points)) {
    const image = await resultImage(join(resultsDir, point.id));
    if (image === null) continue;
    if (typeof image === 'string') {
      unreadable.push(image);
      continue;
    }
    // A skipped unreadable map belonged to a higher-ranked subject, so the caption calls this
    // the best readable map rather than the best overall.
    const withMap = unreadable.length === 0 ? 'with a map' : 'with a readable map';
    const reason =
      point.predicted === null
        ? `lowest estimate ${withMap}`
        : `largest estimated deficit ${withMap}`;
    return {
      kind: 'image',
      id: point.id,
      model: modelOf(point),
      reason,
      ...image,
      point,
      unreadable,
    };
  }
  return {
    kind: 'missing',
    message:
      `No result folder in ${resultsDir} has an ${OVERLAY_IMAGE_FILE} or a map.nii.gz with ` +
      'its result.json for an evaluated subject, so no example map is shown.' +
      (unreadable.length === 0 ? '' : ` Unreadable result folders: ${unreadable.join('; ')}.`),
  };
}
