import { existsSync } from 'node:fs';
import { access } from 'node:fs/promises';
import { join, resolve } from 'node:path';

import { applyAffine, indexToPhysical, invert3x3, type GridGeometry } from '@dlco/preprocess';
import { niftiReadImageNode } from '@itk-wasm/image-io';

import { EvalInputError } from './errors.ts';

/** File names inside a subject's truth folder, as the simulator writes them. */
export const TRUTH_FILES = { deficit: 'deficit.nii.gz', labels: 'labels.nii.gz' } as const;

/**
 * Lesion codes of labels.nii.gz that count as lesion for the pointing game: every process that
 * lowers conductance (2 to 9). Code 1 is lesion-free lung and 10 is dependent atelectasis,
 * which leaves conductance unchanged.
 */
export const LESION_LABELS: readonly number[] = [2, 3, 4, 5, 6, 7, 8, 9];

/** A subject's ground truth on the CT grid. */
export interface TruthVolumes {
  readonly geometry: GridGeometry;
  /** Conductance deficit per voxel, ml/min/mmHg. */
  readonly deficit: Float32Array;
  /** Lesion label per voxel (0 outside lung). */
  readonly labels: Uint8Array;
}

/** An axis-aligned box in LPS: voxel centres p with `min <= p < max` on every axis are inside. */
export interface PatchBox {
  readonly min: readonly [number, number, number];
  readonly max: readonly [number, number, number];
}

/** Truth summed over one patch box. */
export interface PatchTruth {
  /** Sum of the truth deficit over voxels whose centres lie in the box, ml/min/mmHg. */
  readonly deficit: number;
  /** Voxels in the box with a label in {@link LESION_LABELS}. */
  readonly lesionVoxels: number;
}

/** Truth of every patch of one subject, with the whole-volume totals. */
export interface SubjectTruth {
  readonly patches: readonly PatchTruth[];
  /** Deficit summed over the whole volume, ml/min/mmHg. */
  readonly totalDeficit: number;
  /** Lesion voxels in the whole volume. */
  readonly totalLesionVoxels: number;
}

/**
 * Returns the box of a patch of `sizeVoxels` voxels at `spacingMm` centred on `centerMm`. The
 * working grid has identity direction in LPS, so the box is axis-aligned, and it spans the
 * patch's voxels to their outer faces: centre ± sizeVoxels × spacingMm / 2.
 */
export function patchBox(
  centerMm: readonly number[],
  sizeVoxels: number,
  spacingMm: number,
): PatchBox {
  const half = (sizeVoxels * spacingMm) / 2;
  return {
    min: [centerMm[0] - half, centerMm[1] - half, centerMm[2] - half],
    max: [centerMm[0] + half, centerMm[1] + half, centerMm[2] + half],
  };
}

/**
 * Sums the truth over each box. Only voxels of the grid index range that bounds the box are
 * visited, so any truth-grid orientation works. Overlapping boxes each count a shared voxel.
 */
export function sumTruthInBoxes(truth: TruthVolumes, boxes: readonly PatchBox[]): SubjectTruth {
  const { geometry, deficit, labels } = truth;
  const toPhysical = indexToPhysical(geometry);
  const inverse = invert3x3(toPhysical.matrix);
  const lesion = new Uint8Array(256);
  for (const code of LESION_LABELS) lesion[code] = 1;

  const patches = boxes.map((box): PatchTruth => {
    const range = indexRange(box, toPhysical.offset, inverse, geometry.size);
    const m = toPhysical.matrix;
    const origin = toPhysical.offset;
    const [nx, ny] = geometry.size;
    let sum = 0;
    let lesionVoxels = 0;
    for (let k = range.min[2]; k <= range.max[2]; k++) {
      for (let j = range.min[1]; j <= range.max[1]; j++) {
        for (let i = range.min[0]; i <= range.max[0]; i++) {
          const x = m[0] * i + m[1] * j + m[2] * k + origin[0];
          const y = m[3] * i + m[4] * j + m[5] * k + origin[1];
          const z = m[6] * i + m[7] * j + m[8] * k + origin[2];
          if (x < box.min[0] || x >= box.max[0]) continue;
          if (y < box.min[1] || y >= box.max[1]) continue;
          if (z < box.min[2] || z >= box.max[2]) continue;
          const index = i + nx * (j + ny * k);
          sum += deficit[index];
          lesionVoxels += lesion[labels[index]];
        }
      }
    }
    return { deficit: sum, lesionVoxels };
  });

  let totalDeficit = 0;
  let totalLesionVoxels = 0;
  for (let index = 0; index < deficit.length; index++) {
    totalDeficit += deficit[index];
    totalLesionVoxels += lesion[labels[index]];
  }
  return { patches, totalDeficit, totalLesionVoxels };
}

/** Returns the whole-voxel index range, clipped to the grid, that bounds `box`. */
function indexRange(
  box: PatchBox,
  originMm: readonly number[],
  inverse: Float64Array,
  size: readonly number[],
): { min: number[]; max: number[] } {
  const min = [Infinity, Infinity, Infinity];
  const max = [-Infinity, -Infinity, -Infinity];
  for (let corner = 0; corner < 8; corner++) {
    const point = [0, 1, 2].map(
      (axis) => ((corner >> axis) & 1 ? box.max[axis] : box.min[axis]) - originMm[axis],
    );
    const index = applyAffine({ matrix: inverse, offset: [0, 0, 0] }, point);
    for (let axis = 0; axis < 3; axis++) {
      min[axis] = Math.min(min[axis], index[axis]);
      max[axis] = Math.max(max[axis], index[axis]);
    }
  }
  return {
    min: min.map((value) => Math.max(0, Math.floor(value))),
    max: max.map((value, axis) => Math.min(size[axis] - 1, Math.ceil(value))),
  };
}

/**
 * Reads deficit.nii.gz and labels.nii.gz from `truthDir` with ITK-wasm, which applies the NIfTI
 * affine and returns LPS geometry. The two volumes must share one grid.
 *
 * @throws EvalInputError `EVAL_FILE_NOT_FOUND` for a missing file, and `EVAL_INPUT_INVALID`
 *   for a file that is not valid NIfTI, volumes that are not 3-D, or grids that differ.
 */
export async function readTruthVolumes(truthDir: string): Promise<TruthVolumes> {
  const deficit = await readNifti(join(truthDir, TRUTH_FILES.deficit));
  const labels = await readNifti(join(truthDir, TRUTH_FILES.labels));
  if (!sameGrid(deficit.geometry, labels.geometry)) {
    throw new EvalInputError(
      'EVAL_INPUT_INVALID',
      `${join(truthDir, TRUTH_FILES.deficit)} and ${TRUTH_FILES.labels} in the same folder ` +
        'have different grids (size, spacing, origin or direction). Write both on the CT grid.',
      { file: join(truthDir, TRUTH_FILES.labels) },
    );
  }
  return {
    geometry: deficit.geometry,
    deficit: deficit.data instanceof Float32Array ? deficit.data : Float32Array.from(deficit.data),
    labels: labels.data instanceof Uint8Array ? labels.data : Uint8Array.from(labels.data),
  };
}

/** Returns whether both truth files exist in `truthDir`. */
export async function truthFilesExist(truthDir: string): Promise<boolean> {
  const exists = (file: string) =>
    access(join(truthDir, file)).then(
      () => true,
      () => false,
    );
  return (await exists(TRUTH_FILES.deficit)) && (await exists(TRUTH_FILES.labels));
}

async function readNifti(
  file: string,
): Promise<{ geometry: GridGeometry; data: ArrayLike<number> }> {
  let image;
  try {
    const output = await niftiReadImageNode(resolve(file));
    if (!output.couldRead) throw new Error('ITK-wasm could not read it as NIfTI');
    image = output.image;
  } catch (error) {
    const missing = (error as NodeJS.ErrnoException).code === 'ENOENT' || !existsSync(file);
    throw new EvalInputError(
      missing ? 'EVAL_FILE_NOT_FOUND' : 'EVAL_INPUT_INVALID',
      `cannot read the truth volume ${file}: ${(error as Error).message}. Check that the ` +
        "manifest's truth_path points at the simulator's truth folder.",
      { file, column: 'truth_path', cause: error },
    );
  }
  const size = image.size.slice();
  while (size.length > 3 && size[size.length - 1] === 1) size.pop();
  if (size.length !== 3 || image.imageType.components !== 1 || image.data === null) {
    throw new EvalInputError(
      'EVAL_INPUT_INVALID',
      `the truth volume ${file} has size ${image.size.join(' × ')}; a 3-D scalar volume is ` +
        'required.',
      { file },
    );
  }
  const dimension = image.imageType.dimension;
  const direction = new Float64Array(9);
  for (let row = 0; row < 3; row++) {
    for (let col = 0; col < 3; col++) {
      direction[3 * row + col] = Number(image.direction[dimension * row + col]);
    }
  }
  return {
    geometry: {
      size: [size[0], size[1], size[2]],
      spacingMm: [image.spacing[0], image.spacing[1], image.spacing[2]],
      originMm: [image.origin[0], image.origin[1], image.origin[2]],
      direction,
    },
    data: image.data as ArrayLike<number>,
  };
}

function sameGrid(a: GridGeometry, b: GridGeometry): boolean {
  const close = (x: ArrayLike<number>, y: ArrayLike<number>) =>
    Array.from(x).every((value, index) => Math.abs(value - y[index]) < 1e-3);
  return (
    a.size.every((value, axis) => value === b.size[axis]) &&
    close(a.spacingMm, b.spacingMm) &&
    close(a.originMm, b.originMm) &&
    close(a.direction, b.direction)
  );
}
