import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Repository root, derived from this file so CI clones in other folders work. */
export const repoRoot = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../../../../../..',
);

/** Real de-identified scans, kept beside the repository and never copied into it. */
export const realDataDir = path.resolve(repoRoot, '../shared/data/real');

/** Creates a temporary folder for one test; remove it with `removeTempDir`. */
export function makeTempDir(prefix = 'dlco-io-test-'): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), prefix));
}

export function removeTempDir(folder: string): Promise<void> {
  return rm(folder, { recursive: true, force: true });
}

/** Lists every entry under `folder`, for asserting that nothing was left behind. */
export async function listEntries(folder: string): Promise<string[]> {
  return readdir(folder, { recursive: true });
}

/**
 * Builds a small chest phantom in HU: air (-1000) around a soft-tissue (40 HU) ellipse that
 * contains two lungs (-850 HU). Voxels are ordered i fastest.
 */
export function chestPhantomHu(size: [number, number, number]): Int16Array {
  const [nx, ny, nz] = size;
  const data = new Int16Array(nx * ny * nz);
  for (let k = 0; k < nz; k++) {
    for (let j = 0; j < ny; j++) {
      for (let i = 0; i < nx; i++) {
        const x = (i + 0.5) / nx - 0.5;
        const y = (j + 0.5) / ny - 0.5;
        let value = -1000;
        if ((x / 0.45) ** 2 + (y / 0.35) ** 2 < 1) value = 40;
        if (((Math.abs(x) - 0.2) / 0.15) ** 2 + (y / 0.25) ** 2 < 1) value = -850;
        data[i + nx * (j + ny * k)] = value;
      }
    }
  }
  return data;
}

/** Encodes an attached-data NRRD with raw encoding; `fields` override or add header lines. */
export function encodeNrrd(
  size: number[],
  type: 'short' | 'ushort' | 'float',
  data: ArrayBufferView,
  fields: Record<string, string> = {},
): Buffer {
  const header: Record<string, string> = {
    type,
    dimension: String(size.length),
    space: 'left-posterior-superior',
    sizes: size.join(' '),
    'space directions': size
      .map((_, axis) => `(${size.map((__, r) => (r === axis ? 1 : 0)).join(',')})`)
      .join(' '),
    'space origin': `(${size.map(() => 0).join(',')})`,
    endian: 'little',
    encoding: 'raw',
    ...fields,
  };
  const text = ['NRRD0004', ...Object.entries(header).map(([key, value]) => `${key}: ${value}`)];
  return Buffer.concat([
    Buffer.from(`${text.join('\n')}\n\n`, 'latin1'),
    Buffer.from(data.buffer, data.byteOffset, data.byteLength),
  ]);
}

/** Encodes a MetaImage (.mha) with local data; `fields` override header values. */
export function encodeMetaImage(
  size: number[],
  elementType: 'MET_SHORT' | 'MET_FLOAT',
  data: ArrayBufferView,
  fields: Record<string, string> = {},
): Buffer {
  const header: Record<string, string> = {
    ObjectType: 'Image',
    NDims: String(size.length),
    BinaryData: 'True',
    BinaryDataByteOrderMSB: 'False',
    CompressedData: 'False',
    Offset: size.map(() => 0).join(' '),
    ElementSpacing: size.map(() => 1).join(' '),
    DimSize: size.join(' '),
    ElementType: elementType,
    ...fields,
  };
  const lines = Object.entries(header).map(([key, value]) => `${key} = ${value}`);
  lines.push('ElementDataFile = LOCAL');
  return Buffer.concat([
    Buffer.from(`${lines.join('\n')}\n`, 'latin1'),
    Buffer.from(data.buffer, data.byteOffset, data.byteLength),
  ]);
}

/**
 * Counts positions where two arrays differ (a length difference counts as mismatches), which
 * is much faster than `toEqual` on arrays of a whole volume.
 */
export function countMismatches(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let mismatches = Math.abs(a.length - b.length);
  const length = Math.min(a.length, b.length);
  for (let index = 0; index < length; index++) {
    if (a[index] !== b[index]) mismatches++;
  }
  return mismatches;
}
