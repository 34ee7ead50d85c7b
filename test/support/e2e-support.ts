import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { readImageNode } from '@itk-wasm/image-io';
import {
  applyAffine,
  indexToPhysical,
  type GridGeometry,
  type LabelVolume,
} from '@dlco/preprocess';

/** Repository root: this file lives in `test/support/`. */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const DLCO_BIN = join(REPO_ROOT, 'apps/cli/bin/dlco.js');
/** Real chest CT scans, kept beside the checkout and never copied into it. */
export const REAL_DATA = resolve(REPO_ROOT, '../shared/data/real');

export const SCANS = {
  ct64Nrrd: join(REAL_DATA, 'cip-ct64/ct-64.nrrd'),
  ct64Dicom: join(REAL_DATA, 'cip-ct64/dicom'),
  popiDicom: join(REAL_DATA, 'popi-4dct-phase00/dicom'),
  /** Thorax crop whose lung apices lie above the scan. */
  thoraxCrop: join(REAL_DATA, 'ts-thorax-crop/ct.nii.gz'),
  /** Two DICOM slices: too few for a volume. */
  twoSlices: join(REAL_DATA, 'lungmask-two-slices'),
} as const;

export const DEMO_MODEL_DIR = join(REPO_ROOT, 'models/demo');
export const TINY_MODEL_DIR = join(REPO_ROOT, 'libs/model/testdata/tiny-model');

/**
 * Returns the demo model when `models/demo` exists, otherwise the untrained tiny fixture. The
 * fixture runs the whole pipeline but may be insensitive to image changes, so checks that
 * compare estimates are stronger with the demo model.
 */
export function pickModelDir(): { dir: string; name: 'demo' | 'tiny-fixture' } {
  if (existsSync(join(DEMO_MODEL_DIR, 'model-card.json'))) {
    return { dir: DEMO_MODEL_DIR, name: 'demo' };
  }
  return { dir: TINY_MODEL_DIR, name: 'tiny-fixture' };
}

/** Subject flags used for every scan of the tests; the real scans come without subject data. */
export const SUBJECT_FLAGS = ['--age', '60', '--sex', 'M', '--height', '175', '--weight', '80'];

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `node apps/cli/bin/dlco.js ARGS` from the repository root. */
export function runDlco(args: string[]): Promise<CliRun> {
  return new Promise((resolvePromise) => {
    execFile(
      process.execPath,
      [DLCO_BIN, ...args],
      { cwd: REPO_ROOT, maxBuffer: 1 << 26 },
      (error, stdout, stderr) => {
        let code = 0;
        if (error !== null) code = typeof error.code === 'number' ? error.code : -1;
        resolvePromise({ code, stdout, stderr });
      },
    );
  });
}

/** Reads a NIfTI or NRRD file with its grid in LPS, as ITK-wasm returns it. */
export async function readGrid<T extends ArrayLike<number>>(
  file: string,
): Promise<GridGeometry & { data: T }> {
  const image = await readImageNode(file);
  return {
    size: image.size as [number, number, number],
    spacingMm: image.spacing as [number, number, number],
    originMm: image.origin as [number, number, number],
    direction: Float64Array.from(image.direction as ArrayLike<number>),
    data: image.data as unknown as T,
  };
}

/** Returns the Dice coefficient of the non-zero voxels of two masks on one grid. */
export function diceOfMasks(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let both = 0;
  let inA = 0;
  let inB = 0;
  for (let n = 0; n < a.length; n++) {
    const x = a[n] !== 0;
    const y = b[n] !== 0;
    if (x) inA++;
    if (y) inB++;
    if (x && y) both++;
  }
  return inA + inB === 0 ? 1 : (2 * both) / (inA + inB);
}

/** Returns the LPS centroid in mm of the non-zero voxels of a mask. */
export function maskCentroidMm(mask: LabelVolume): [number, number, number] {
  const [n0, n1, n2] = mask.size;
  const sum = [0, 0, 0];
  let count = 0;
  for (let k = 0, n = 0; k < n2; k++) {
    for (let j = 0; j < n1; j++) {
      for (let i = 0; i < n0; i++, n++) {
        if (mask.data[n] === 0) continue;
        sum[0] += i;
        sum[1] += j;
        sum[2] += k;
        count++;
      }
    }
  }
  const meanIndex = sum.map((value) => value / count);
  return applyAffine(indexToPhysical(mask), meanIndex);
}

/** Returns the Euclidean distance between two points in mm. */
export function distanceMm(a: ArrayLike<number>, b: ArrayLike<number>): number {
  return Math.hypot(a[0] - b[0], a[1] - b[1], a[2] - b[2]);
}
