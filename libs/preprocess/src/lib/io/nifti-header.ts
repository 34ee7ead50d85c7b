import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createGunzip } from 'node:zlib';

import { InputError } from '../errors.ts';
import { gzipTrailerMatches } from './gzip-trailer.ts';

/** Affine of a NIfTI qform or sform, converted to LPS. */
export interface NiftiAffine {
  /** Column-wise unit vectors, row-major like `Volume.direction`. */
  direction: number[];
  /** Length of each column, in mm. */
  spacingMm: [number, number, number];
  originMm: [number, number, number];
  /** Largest |cos| between two columns; 0 for an orthogonal affine. */
  maxColumnCosine: number;
}

/** Fields of a NIfTI-1 or NIfTI-2 header that the reader validates. */
export interface NiftiHeader {
  version: 1 | 2;
  /** dim[1..dim[0]]. */
  dims: number[];
  bitsPerVoxel: number;
  voxOffset: number;
  /** pixdim[1..3], the voxel spacing in mm when neither qform nor sform is set. */
  pixdimMm: number[];
  qform?: NiftiAffine;
  sform?: NiftiAffine;
}

const NIFTI2_HEADER_BYTES = 540;

/** Reads the first `byteCount` bytes, inflating only as much of a gzip stream as needed. */
async function readLeadingBytes(file: string, byteCount: number): Promise<Buffer> {
  const source = createReadStream(file);
  const stream = isGzip(file) ? source.pipe(createGunzip()) : source;
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    for await (const chunk of stream) {
      chunks.push(chunk as Buffer);
      total += (chunk as Buffer).length;
      if (total >= byteCount) break;
    }
  } catch (error) {
    throw corrupt(file, `its header could not be decompressed (${(error as Error).message})`);
  } finally {
    source.destroy();
  }
  return Buffer.concat(chunks).subarray(0, byteCount);
}

function corrupt(file: string, reason: string): InputError {
  return new InputError('INPUT_CORRUPT', `NIfTI file ${file} is corrupt: ${reason}.`, { file });
}

/**
 * Reads and parses the NIfTI-1 (348-byte) or NIfTI-2 (540-byte) header of a .nii or .nii.gz
 * file in either byte order, without reading the pixel data.
 *
 * @throws InputError `INPUT_CORRUPT` when the header is short or not NIfTI.
 */
export async function readNiftiHeader(file: string): Promise<NiftiHeader> {
  const bytes = await readLeadingBytes(file, NIFTI2_HEADER_BYTES);
  if (bytes.length < 348) throw corrupt(file, `its header has only ${bytes.length} bytes`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (const littleEndian of [true, false]) {
    const sizeofHdr = view.getInt32(0, littleEndian);
    if (sizeofHdr === 348) return parseNifti1(view, littleEndian);
    if (sizeofHdr === NIFTI2_HEADER_BYTES && bytes.length >= NIFTI2_HEADER_BYTES) {
      return parseNifti2(view, littleEndian);
    }
  }
  throw corrupt(file, 'sizeof_hdr is neither 348 nor 540');
}

function parseNifti1(view: DataView, le: boolean): NiftiHeader {
  const f32 = (offset: number) => view.getFloat32(offset, le);
  const rank = view.getInt16(40, le);
  const dims = Array.from({ length: Math.max(0, Math.min(rank, 7)) }, (_, axis) =>
    view.getInt16(42 + 2 * axis, le),
  );
  const pixdim = Array.from({ length: 8 }, (_, index) => f32(76 + 4 * index));
  const quaternion = [f32(256), f32(260), f32(264)];
  const qoffset = [f32(268), f32(272), f32(276)];
  const srow = [0, 1, 2].map((row) => [0, 1, 2, 3].map((col) => f32(280 + 16 * row + 4 * col)));
  return {
    version: 1,
    dims,
    bitsPerVoxel: view.getInt16(72, le),
    voxOffset: f32(108),
    pixdimMm: pixdim.slice(1, 4),
    qform: view.getInt16(252, le) > 0 ? qformAffine(quaternion, qoffset, pixdim) : undefined,
    sform: view.getInt16(254, le) > 0 ? sformAffine(srow) : undefined,
  };
}

function parseNifti2(view: DataView, le: boolean): NiftiHeader {
  const f64 = (offset: number) => view.getFloat64(offset, le);
  const i64 = (offset: number) => Number(view.getBigInt64(offset, le));
  const rank = i64(16);
  const dims = Array.from({ length: Math.max(0, Math.min(rank, 7)) }, (_, axis) =>
    i64(24 + 8 * axis),
  );
  const pixdim = Array.from({ length: 8 }, (_, index) => f64(104 + 8 * index));
  const quaternion = [f64(352), f64(360), f64(368)];
  const qoffset = [f64(376), f64(384), f64(392)];
  const srow = [0, 1, 2].map((row) => [0, 1, 2, 3].map((col) => f64(400 + 32 * row + 8 * col)));
  return {
    version: 2,
    dims,
    bitsPerVoxel: view.getInt16(14, le),
    voxOffset: i64(168),
    pixdimMm: pixdim.slice(1, 4),
    qform: view.getInt32(344, le) > 0 ? qformAffine(quaternion, qoffset, pixdim) : undefined,
    sform: view.getInt32(348, le) > 0 ? sformAffine(srow) : undefined,
  };
}

/** Builds an affine from RAS columns; NIfTI stores RAS, so x and y flip sign for LPS. */
function affineFromRasColumns(columns: number[][], originRas: number[]): NiftiAffine {
  const spacingMm = columns.map((column) => Math.hypot(...column)) as [number, number, number];
  const units = columns.map((column, axis) =>
    column.map((value) => value / (spacingMm[axis] || 1)),
  );
  const direction = new Array<number>(9);
  for (let row = 0; row < 3; row++) {
    const sign = row < 2 ? -1 : 1;
    for (let col = 0; col < 3; col++) direction[3 * row + col] = sign * units[col][row] + 0;
  }
  let maxColumnCosine = 0;
  for (const [a, b] of [
    [0, 1],
    [0, 2],
    [1, 2],
  ]) {
    const cosine = Math.abs(units[a].reduce((sum, value, r) => sum + value * units[b][r], 0));
    maxColumnCosine = Math.max(maxColumnCosine, cosine);
  }
  const originMm: [number, number, number] = [-originRas[0] + 0, -originRas[1] + 0, originRas[2]];
  return { direction, spacingMm, originMm, maxColumnCosine };
}

/** Builds the qform affine from the quaternion (b, c, d); qfac = pixdim[0] < 0 flips the k axis. */
function qformAffine(quaternion: number[], qoffset: number[], pixdim: number[]): NiftiAffine {
  const [b, c, d] = quaternion;
  const a = Math.sqrt(Math.max(0, 1 - (b * b + c * c + d * d)));
  const rotation = [
    [a * a + b * b - c * c - d * d, 2 * (b * c - a * d), 2 * (b * d + a * c)],
    [2 * (b * c + a * d), a * a + c * c - b * b - d * d, 2 * (c * d - a * b)],
    [2 * (b * d - a * c), 2 * (c * d + a * b), a * a + d * d - b * b - c * c],
  ];
  const qfac = pixdim[0] < 0 ? -1 : 1;
  const columns = [0, 1, 2].map((col) =>
    [0, 1, 2].map((row) => rotation[row][col] * Math.abs(pixdim[col + 1]) * (col === 2 ? qfac : 1)),
  );
  return affineFromRasColumns(columns, qoffset);
}

function sformAffine(srow: number[][]): NiftiAffine {
  const columns = [0, 1, 2].map((col) => [0, 1, 2].map((row) => srow[row][col]));
  return affineFromRasColumns(columns, [srow[0][3], srow[1][3], srow[2][3]]);
}

/** Voxel spacing the header declares: sform column lengths when set, else pixdim[1..3]. */
export function niftiSpacingMm(header: NiftiHeader): number[] {
  return header.sform?.spacingMm ?? header.pixdimMm.slice(0, Math.min(3, header.dims.length));
}

/** Largest origin difference (mm) between qform and sform before they count as disagreeing. */
export const QFORM_SFORM_ORIGIN_TOLERANCE_MM = 1e-3;
/** Largest direction-cosine difference between qform and sform. */
export const QFORM_SFORM_DIRECTION_TOLERANCE = 1e-4;
/** Largest |cos| between affine columns before the affine counts as sheared. */
export const SHEAR_COSINE_TOLERANCE = 1e-4;

/**
 * Rejects a sheared sform or qform, qform and sform that disagree, and, for an uncompressed
 * file, pixel data shorter than the header declares. A .nii.gz file is checked after decoding
 * with `checkNiftiGzipData`.
 *
 * @throws InputError `NIFTI_SHEARED`, `NIFTI_QFORM_SFORM_MISMATCH` or `INPUT_CORRUPT`.
 */
export async function checkNiftiHeader(header: NiftiHeader, file: string): Promise<void> {
  for (const [name, affine] of [
    ['sform', header.sform],
    ['qform', header.qform],
  ] as const) {
    if (affine !== undefined && affine.maxColumnCosine > SHEAR_COSINE_TOLERANCE) {
      const degrees = (Math.acos(Math.min(1, affine.maxColumnCosine)) * 180) / Math.PI;
      throw new InputError(
        'NIFTI_SHEARED',
        `NIfTI file ${file} has a sheared ${name}: two voxel axes meet at ${degrees.toFixed(3)}° ` +
          'instead of 90°. Resample the scan onto an orthogonal grid before reading it.',
        { file, form: name, maxColumnCosine: affine.maxColumnCosine },
      );
    }
  }
  if (header.qform !== undefined && header.sform !== undefined) {
    checkFormsAgree(header.qform, header.sform, file);
  }
  if (isGzip(file)) return;
  const size = (await stat(file)).size;
  const expectedBytes = niftiExpectedBytes(header);
  if (size < expectedBytes) {
    throw corrupt(file, `it has ${size} bytes of data but its header declares ${expectedBytes}`);
  }
}

/** Returns true for a .gz file name, which `readNiftiHeader` and the checks inflate. */
export function isGzip(file: string): boolean {
  return file.toLowerCase().endsWith('.gz');
}

/** Bytes of header, extensions and pixel data that the header declares. */
function niftiExpectedBytes(header: NiftiHeader): number {
  const voxels = header.dims.reduce((product, count) => product * Math.max(count, 1), 1);
  return header.voxOffset + (voxels * header.bitsPerVoxel) / 8;
}

/** Largest vox_offset for which the header bytes are read again to verify the gzip CRC-32. */
const MAX_CRC_VOX_OFFSET = 1 << 20;

/**
 * Rejects a .nii.gz file whose gzip stream is damaged or truncated, or whose data is shorter
 * than the header declares. ITK-wasm's NIfTI reader returns a volume from some truncated
 * .nii.gz files without an error, so its output cannot be trusted alone.
 *
 * `pixelData` is the decoded image as ITK-wasm returned it, before any conversion. When it
 * contains the file's bytes unchanged (no rescaling, the machine's byte order, no trailing data),
 * the header bytes followed by `pixelData` must match the CRC-32 and length in the gzip trailer,
 * which costs one CRC over the data. Otherwise, or when they do not match, the whole file is
 * inflated a second time to find the damage and measure the length.
 *
 * @throws InputError `INPUT_CORRUPT`
 */
export async function checkNiftiGzipData(
  header: NiftiHeader,
  file: string,
  pixelData: ArrayBufferView | null,
): Promise<void> {
  const expectedBytes = niftiExpectedBytes(header);
  const voxOffset = header.voxOffset;
  const canVerifyCrc =
    pixelData !== null &&
    Number.isInteger(voxOffset) &&
    voxOffset > 0 &&
    voxOffset <= MAX_CRC_VOX_OFFSET &&
    voxOffset + pixelData.byteLength === expectedBytes;
  if (canVerifyCrc) {
    const leading = await readLeadingBytes(file, voxOffset);
    const data = new Uint8Array(pixelData.buffer, pixelData.byteOffset, pixelData.byteLength);
    if (leading.length === voxOffset && (await gzipTrailerMatches(file, [leading, data]))) return;
  }
  const size = await inflatedLength(file);
  if (size < expectedBytes) {
    throw corrupt(file, `it has ${size} bytes of data but its header declares ${expectedBytes}`);
  }
}

/** Inflates a gzip file without keeping the output and returns its length. */
async function inflatedLength(file: string): Promise<number> {
  let length = 0;
  try {
    for await (const chunk of createReadStream(file).pipe(createGunzip())) {
      length += (chunk as Buffer).length;
    }
  } catch (error) {
    throw corrupt(file, `its gzip stream is damaged or truncated (${(error as Error).message})`);
  }
  return length;
}

function checkFormsAgree(qform: NiftiAffine, sform: NiftiAffine, file: string): void {
  const originDifference = Math.max(
    ...qform.originMm.map((value, axis) => Math.abs(value - sform.originMm[axis])),
  );
  const directionDifference = Math.max(
    ...qform.direction.map((value, index) => Math.abs(value - sform.direction[index])),
  );
  if (
    originDifference > QFORM_SFORM_ORIGIN_TOLERANCE_MM ||
    directionDifference > QFORM_SFORM_DIRECTION_TOLERANCE
  ) {
    throw new InputError(
      'NIFTI_QFORM_SFORM_MISMATCH',
      `NIfTI file ${file} has a qform and an sform that disagree by ${originDifference.toFixed(4)} ` +
        `mm in origin and ${directionDifference.toFixed(5)} in direction cosines. Set qform_code ` +
        'or sform_code to 0 for the one that is wrong, or rewrite the header with one affine.',
      { file, originDifference, directionDifference },
    );
  }
}
