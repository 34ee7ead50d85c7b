import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

import { BAG_FORMAT_VERSION } from '../params.ts';
import { decodeNpy, encodeNpy, type NpyData, type NpyDtype } from './npy.ts';
import type { PatchArrays, PatchBag, PatchBagMetadata } from './patch-bag-types.ts';

/** Name of the metadata file inside a bag folder. */
export const BAG_METADATA_FILE = 'bag.json';

type ArrayKey = Exclude<keyof PatchArrays, 'patchSizeVoxels' | 'count'>;

interface ArrayFileSpec {
  file: string;
  key: ArrayKey;
  dtype: NpyDtype;
  /** Axes after the patch axis N. `S` stands for the patch size. */
  trailingAxes: Array<number | 'S'>;
}

/** The array files of a bag, matching docs/patch-bag-format.md. */
const ARRAY_FILES: readonly ArrayFileSpec[] = [
  { file: 'hu.npy', key: 'hu', dtype: '<i2', trailingAxes: ['S', 'S', 'S'] },
  { file: 'mask.npy', key: 'mask', dtype: '|u1', trailingAxes: ['S', 'S', 'S'] },
  { file: 'centers_mm.npy', key: 'centersMm', dtype: '<f4', trailingAxes: [3] },
  { file: 'corner_ijk.npy', key: 'cornerIjk', dtype: '<i4', trailingAxes: [3] },
  { file: 'lung_ml.npy', key: 'lungMl', dtype: '<f4', trailingAxes: [] },
  { file: 'zone.npy', key: 'zone', dtype: '|u1', trailingAxes: [] },
  { file: 'side.npy', key: 'side', dtype: '|u1', trailingAxes: [] },
  { file: 'rind_fraction.npy', key: 'rindFraction', dtype: '<f4', trailingAxes: [] },
];

/** Options for `readPatchBag`. */
export interface ReadPatchBagOptions {
  /** Reject the bag unless its `preprocessingHash` equals this one. */
  expectedPreprocessingHash?: string;
}

/**
 * Writes a patch bag into folder `dir`, replacing any bag already there.
 *
 * The files go to a temporary sibling folder first, which is renamed to `dir` once every file
 * is written. A failure removes the temporary folder and leaves any earlier bag in place.
 *
 * @example
 * await writePatchBag('out/scan-001', { metadata, patches });
 */
export async function writePatchBag(dir: string, bag: PatchBag): Promise<void> {
  checkPatchArrays(bag.patches);
  if (bag.metadata.patchCount !== bag.patches.count) {
    throw new RangeError(
      `metadata.patchCount ${bag.metadata.patchCount} differs from the ${bag.patches.count} patches`,
    );
  }

  const parent = dirname(dir);
  await mkdir(parent, { recursive: true });
  await removeAbandonedStaging(parent, basename(dir));
  const suffix = `${process.pid}-${randomBytes(4).toString('hex')}`;
  const staging = join(parent, `.${basename(dir)}.tmp-${suffix}`);
  const retired = join(parent, `.${basename(dir)}.old-${suffix}`);

  let hadPrevious = false;
  try {
    await mkdir(staging);
    for (const spec of ARRAY_FILES) {
      const shape = arrayShape(spec, bag.patches.count, bag.patches.patchSizeVoxels);
      await writeFile(join(staging, spec.file), encodeNpy(bag.patches[spec.key], shape));
    }
    const metadataText = `${JSON.stringify(bag.metadata, null, 2)}\n`;
    await writeFile(join(staging, BAG_METADATA_FILE), metadataText);

    hadPrevious = await renameIfExists(dir, retired);
    await rename(staging, dir);
  } catch (error) {
    await rm(staging, { recursive: true, force: true });
    if (hadPrevious) {
      await rename(retired, dir);
    }
    throw error;
  }

  if (hadPrevious) {
    await rm(retired, { recursive: true, force: true });
  }
}

/**
 * Reads `bag.json` of a bag folder and checks its format version.
 *
 * @throws Error when the file is missing, is not JSON, or has an unknown `formatVersion`.
 */
export async function readPatchBagMetadata(dir: string): Promise<PatchBagMetadata> {
  const path = join(dir, BAG_METADATA_FILE);
  const metadata = JSON.parse(await readFile(path, 'utf8')) as PatchBagMetadata;
  if (metadata.formatVersion !== BAG_FORMAT_VERSION) {
    throw new Error(
      `unsupported patch bag format version ${String(metadata.formatVersion)} in ${path}: ` +
        `this reader knows version ${BAG_FORMAT_VERSION}; preprocess the scan again`,
    );
  }
  return metadata;
}

/**
 * Reads a patch bag folder written by `writePatchBag` (or any writer that follows
 * docs/patch-bag-format.md) and checks that every array has the shape the format requires.
 *
 * @throws Error on an unknown format version, a different preprocessing hash than
 *   `options.expectedPreprocessingHash`, or an array of the wrong dtype or shape.
 */
export async function readPatchBag(
  dir: string,
  options: ReadPatchBagOptions = {},
): Promise<PatchBag> {
  const metadata = await readPatchBagMetadata(dir);
  const expectedHash = options.expectedPreprocessingHash;
  if (expectedHash !== undefined && metadata.preprocessingHash !== expectedHash) {
    throw new Error(
      `patch bag ${dir} was made with preprocessing hash ${metadata.preprocessingHash}, ` +
        `expected ${expectedHash}; preprocess the scan again with the matching parameters`,
    );
  }

  const count = metadata.patchCount;
  const patchSizeVoxels = metadata.preprocessing.patchSizeVoxels;
  const arrays: Partial<Record<ArrayKey, NpyData>> = {};
  for (const spec of ARRAY_FILES) {
    const path = join(dir, spec.file);
    const array = decodeNpy(new Uint8Array(await readFile(path)));
    const expectedShape = arrayShape(spec, count, patchSizeVoxels);
    if (array.dtype !== spec.dtype || array.shape.join() !== expectedShape.join()) {
      throw new Error(
        `${path} contains ${array.dtype} (${array.shape.join(', ')}), ` +
          `expected ${spec.dtype} (${expectedShape.join(', ')})`,
      );
    }
    arrays[spec.key] = array.data;
  }

  const patches = { patchSizeVoxels, count, ...arrays } as PatchArrays;
  return { metadata, patches };
}

function arrayShape(spec: ArrayFileSpec, count: number, patchSizeVoxels: number): number[] {
  return [count, ...spec.trailingAxes.map((axis) => (axis === 'S' ? patchSizeVoxels : axis))];
}

function checkPatchArrays(patches: PatchArrays): void {
  for (const spec of ARRAY_FILES) {
    const shape = arrayShape(spec, patches.count, patches.patchSizeVoxels);
    const expectedLength = shape.reduce((product, axis) => product * axis, 1);
    const array = patches[spec.key];
    if (array.length !== expectedLength) {
      throw new RangeError(
        `patches.${spec.key} has ${array.length} elements, expected ${expectedLength} ` +
          `for ${patches.count} patches of ${patches.patchSizeVoxels}³ voxels`,
      );
    }
  }
}

/**
 * Cleans up after writers of `name` that no longer run, such as a process killed mid-write. Their
 * staging folders are removed. A retired earlier bag is moved back when no bag took its place,
 * and removed otherwise. Folders of a running process are left alone.
 */
// NOTE: process ids are only checked on this host, so two machines must not write bags into one
// shared output folder at the same time.
async function removeAbandonedStaging(parent: string, name: string): Promise<void> {
  const pattern = new RegExp(`^\\.${escapeRegExp(name)}\\.(tmp|old)-(\\d+)-[0-9a-f]+$`);
  for (const entry of await readdir(parent)) {
    const match = pattern.exec(entry);
    if (match === null || isProcessAlive(Number(match[2]))) continue;

    const path = join(parent, entry);
    const target = join(parent, name);
    if (match[1] === 'old' && !(await pathExists(target))) {
      await rename(path, target);
    } else {
      await rm(path, { recursive: true, force: true });
    }
  }
}

async function pathExists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM means the process exists but belongs to another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

async function renameIfExists(from: string, to: string): Promise<boolean> {
  try {
    await rename(from, to);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      return false;
    }
    throw error;
  }
}
