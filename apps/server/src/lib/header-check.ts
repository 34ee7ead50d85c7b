import { createReadStream } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { createGunzip } from 'node:zlib';

import { InputError, isInputError, zipLimitsFor, type InputErrorCode } from '@dlco/preprocess';

import { httpErrorFromInputError } from './errors.ts';

/**
 * Cheap checks of a single-file scan's header before its job is queued. They reject, with the
 * code that the preprocessing reader gives for the same file, the cases the header alone shows:
 * a shape that is not 3-D, a declared voxel count above `maxVoxels`, inline uncompressed pixel
 * data shorter than declared, and a .nii.gz whose gzip stream is damaged or truncated. The
 * reader in the job runs every check again and remains the authority.
 */

const NIFTI1_HEADER_BYTES = 348;
const NIFTI2_HEADER_BYTES = 540;
/** Bytes of a NRRD or MetaImage header that are parsed, as many as the reader parses. */
const MAX_TEXT_HEADER_BYTES = 65536;

/** Shape and pixel layout that a header declares. */
interface DeclaredLayout {
  sizes: number[];
  /** Bytes per voxel, or undefined when the element type is not known here. */
  bytesPerVoxel?: number;
  /**
   * Offset of uncompressed pixel data that follows the header in the same file (for a .nii.gz,
   * in the inflated stream), or undefined for detached or compressed data.
   */
  inlineRawOffset?: number;
}

export type HeaderCheckedKind = 'nifti' | 'nifti-gz' | 'nrrd' | 'metaimage';

/**
 * Checks the header of a stored single-file scan, or of a NRRD or MetaImage header whose data
 * file is detached (then only its shape and voxel count).
 *
 * @throws HttpError 422 with `INPUT_NOT_3D`, `INPUT_TOO_LARGE` or `INPUT_CORRUPT`.
 */
export async function checkScanHeader(
  file: string,
  kind: HeaderCheckedKind,
  uploadDir: string,
  maxVoxels: number,
): Promise<void> {
  try {
    if (kind === 'nifti-gz') {
      await checkNiftiGzip(file, maxVoxels);
      return;
    }
    const layout =
      kind === 'nifti'
        ? parseNiftiHeader(await readLeadingBytes(file, NIFTI2_HEADER_BYTES))
        : parseTextHeader(await readLeadingBytes(file, MAX_TEXT_HEADER_BYTES), kind);
    if (layout === undefined) return;
    checkLayout(layout, file, maxVoxels);
    await checkInlineDataLength(layout, file);
  } catch (error) {
    if (isInputError(error)) throw httpErrorFromInputError(error, uploadDir);
    throw error;
  }
}

async function readLeadingBytes(file: string, byteCount: number): Promise<Buffer> {
  const handle = await open(file, 'r');
  try {
    const buffer = Buffer.alloc(byteCount);
    const { bytesRead } = await handle.read(buffer, 0, byteCount, 0);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

function inputError(code: InputErrorCode, message: string, file: string): InputError {
  return new InputError(code, message, { file });
}

/**
 * Rejects the shapes the reader rejects: after dropping trailing axes of length 1 (a 4-D image
 * with one time point), exactly 3 axes must remain. Then rejects a voxel count above `maxVoxels`.
 */
function checkLayout(layout: DeclaredLayout, file: string, maxVoxels: number): void {
  const sizes = layout.sizes.slice();
  // NIfTI readers treat a dimension below 1 as 1, so it counts as a length-1 axis here too.
  while (sizes.length > 3 && sizes[sizes.length - 1] <= 1) sizes.pop();
  if (sizes.length !== 3) {
    throw inputError(
      'INPUT_NOT_3D',
      `Scan ${file} declares size ${layout.sizes.join(' × ')}: a single 3-D volume is ` +
        'required. Export one time point or one volume.',
      file,
    );
  }
  const voxels = layout.sizes.reduce((product, count) => product * Math.max(count, 1), 1);
  if (voxels > maxVoxels) {
    throw inputError(
      'INPUT_TOO_LARGE',
      `Scan ${file} declares ${layout.sizes.join(' × ')} = ${voxels} voxels, above the limit ` +
        `of ${maxVoxels}. Crop or downsample the scan before uploading it.`,
      file,
    );
  }
}

function declaredDataBytes(layout: DeclaredLayout): number | undefined {
  if (layout.bytesPerVoxel === undefined) return undefined;
  const voxels = layout.sizes.reduce((product, count) => product * Math.max(count, 1), 1);
  return voxels * layout.bytesPerVoxel;
}

async function checkInlineDataLength(layout: DeclaredLayout, file: string): Promise<void> {
  const dataBytes = declaredDataBytes(layout);
  if (layout.inlineRawOffset === undefined || dataBytes === undefined) return;
  const available = (await stat(file)).size - layout.inlineRawOffset;
  if (available < dataBytes) {
    throw inputError(
      'INPUT_CORRUPT',
      `Scan ${file} is corrupt: it has ${Math.max(available, 0)} bytes of pixel data but its ` +
        `header declares ${dataBytes}. The file is truncated. Export the scan again.`,
      file,
    );
  }
}

/**
 * Parses the dimensions, bits per voxel and vox_offset of a NIfTI-1 or NIfTI-2 header in either
 * byte order. Returns undefined for bytes that are not a NIfTI header, which the reader reports.
 */
function parseNiftiHeader(bytes: Buffer): DeclaredLayout | undefined {
  if (bytes.length < 4) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (const littleEndian of [true, false]) {
    const sizeofHdr = view.getInt32(0, littleEndian);
    if (sizeofHdr === NIFTI1_HEADER_BYTES && bytes.length >= NIFTI1_HEADER_BYTES) {
      const rank = view.getInt16(40, littleEndian);
      // dim[0] outside 1..7 is invalid, and the reader reports that itself.
      if (rank < 1 || rank > 7) return undefined;
      const sizes = Array.from({ length: rank }, (_, axis) =>
        view.getInt16(42 + 2 * axis, littleEndian),
      );
      const bitsPerVoxel = view.getInt16(72, littleEndian);
      return niftiLayout(sizes, bitsPerVoxel, view.getFloat32(108, littleEndian));
    }
    if (sizeofHdr === NIFTI2_HEADER_BYTES && bytes.length >= NIFTI2_HEADER_BYTES) {
      const rank = Number(view.getBigInt64(16, littleEndian));
      if (rank < 1 || rank > 7) return undefined;
      const sizes = Array.from({ length: rank }, (_, axis) =>
        Number(view.getBigInt64(24 + 8 * axis, littleEndian)),
      );
      const bitsPerVoxel = view.getInt16(14, littleEndian);
      return niftiLayout(sizes, bitsPerVoxel, Number(view.getBigInt64(168, littleEndian)));
    }
  }
  return undefined;
}

function niftiLayout(sizes: number[], bitsPerVoxel: number, voxOffset: number): DeclaredLayout {
  const known = bitsPerVoxel > 0 && bitsPerVoxel % 8 === 0;
  return {
    sizes,
    bytesPerVoxel: known ? bitsPerVoxel / 8 : undefined,
    inlineRawOffset: Number.isFinite(voxOffset) && voxOffset >= 0 ? voxOffset : undefined,
  };
}

/**
 * Streams a .nii.gz through gunzip to its end, counting bytes. The header is checked as soon as
 * it is inflated, then the stream must end cleanly with at least the declared data. Inflating
 * stops with `INPUT_TOO_LARGE` past the byte cap that the reader sets for a .zip of `maxVoxels`.
 *
 * NOTE: the reader inflates a .nii.gz without a byte cap of its own, so a stream with more than
 * that many trailing bytes after the declared data is accepted by `dlco predict` but not here.
 */
async function checkNiftiGzip(file: string, maxVoxels: number): Promise<void> {
  const maxBytes = zipLimitsFor(maxVoxels).maxBytes;
  const source = createReadStream(file);
  const gunzip = createGunzip();
  const headChunks: Buffer[] = [];
  let layout: DeclaredLayout | undefined;
  let inflated = 0;
  try {
    for await (const chunk of source.pipe(gunzip)) {
      inflated += (chunk as Buffer).length;
      if (layout === undefined && inflated - (chunk as Buffer).length < NIFTI2_HEADER_BYTES) {
        headChunks.push(chunk as Buffer);
        layout = parseNiftiHeader(Buffer.concat(headChunks));
        if (layout !== undefined) checkLayout(layout, file, maxVoxels);
      }
      if (inflated > maxBytes) {
        throw inputError(
          'INPUT_TOO_LARGE',
          `Scan ${file} inflates to more than ${maxBytes} bytes, the limit derived from the ` +
            'voxel limit. Crop or downsample the scan before uploading it.',
          file,
        );
      }
    }
  } catch (error) {
    if (isInputError(error)) throw error;
    throw inputError(
      'INPUT_CORRUPT',
      `NIfTI file ${file} is corrupt: its gzip stream is damaged or truncated ` +
        `(${(error as Error).message}). Compress the scan again and upload the whole file.`,
      file,
    );
  } finally {
    source.destroy();
    gunzip.destroy();
  }
  if (layout === undefined) {
    // A short or unparsable header is reported by the reader with its own message.
    return;
  }
  const dataBytes = declaredDataBytes(layout);
  const voxOffset = layout.inlineRawOffset;
  if (dataBytes !== undefined && voxOffset !== undefined && inflated < voxOffset + dataBytes) {
    throw inputError(
      'INPUT_CORRUPT',
      `NIfTI file ${file} is corrupt: it inflates to ${inflated} bytes but its header declares ` +
        `${voxOffset + dataBytes}. Compress the scan again and upload the whole file.`,
      file,
    );
  }
}

/** Element sizes in bytes of NRRD `type` and MetaImage `ElementType` names. */
function bytesPerElement(typeName: string): number | undefined {
  const type = typeName.toLowerCase();
  if (/char|int8/.test(type)) return 1;
  if (/short|int16/.test(type)) return 2;
  if (/double|int64|long_long|longlong|long long/.test(type)) return 8;
  if (/float|int32|int\b|long/.test(type)) return 4;
  return undefined;
}

/**
 * Parses the sizes, element type and inline raw data offset of a NRRD or MetaImage header.
 * Returns undefined when the sizes are missing or malformed, which the reader reports.
 */
function parseTextHeader(bytes: Buffer, kind: 'nrrd' | 'metaimage'): DeclaredLayout | undefined {
  const text = bytes.toString('latin1');
  return kind === 'nrrd' ? parseNrrd(text) : parseMetaImage(text);
}

function parseSizes(text: string | undefined): number[] | undefined {
  if (text === undefined) return undefined;
  const sizes = text.trim().split(/\s+/).map(Number);
  return sizes.every((size) => Number.isInteger(size) && size >= 1) ? sizes : undefined;
}

function parseNrrd(text: string): DeclaredLayout | undefined {
  const end = text.search(/\r?\n\r?\n/);
  const fields = new Map<string, string>();
  for (const line of (end < 0 ? text : text.slice(0, end)).split(/\r?\n/).slice(1)) {
    const match = /^([^#:][^:]*):=?\s*(.*)$/.exec(line);
    if (match) fields.set(match[1].trim().toLowerCase(), match[2].trim());
  }
  const sizes = parseSizes(fields.get('sizes'));
  if (sizes === undefined) return undefined;
  const inline = fields.get('data file') === undefined && fields.get('datafile') === undefined;
  const raw = (fields.get('encoding') ?? 'raw').toLowerCase() === 'raw';
  const dataOffset = end < 0 ? undefined : end + (text[end] === '\r' ? 4 : 2);
  return {
    sizes,
    bytesPerVoxel: bytesPerElement(fields.get('type') ?? ''),
    inlineRawOffset: inline && raw ? dataOffset : undefined,
  };
}

function parseMetaImage(text: string): DeclaredLayout | undefined {
  const fields = new Map<string, string>();
  let dataOffset: number | undefined;
  let position = 0;
  for (const line of text.split('\n')) {
    position += line.length + 1;
    const match = /^\s*(\w+)\s*=\s*(.*?)\s*$/.exec(line);
    if (!match) break;
    fields.set(match[1].toLowerCase(), match[2]);
    if (match[1].toLowerCase() === 'elementdatafile') {
      dataOffset = position;
      break;
    }
  }
  const sizes = parseSizes(fields.get('dimsize'));
  if (sizes === undefined) return undefined;
  const channels = Number(fields.get('elementnumberofchannels') ?? 1);
  const elementBytes = bytesPerElement(fields.get('elementtype') ?? '');
  const inline = (fields.get('elementdatafile') ?? '').toUpperCase() === 'LOCAL';
  const raw = (fields.get('compresseddata') ?? 'false').toLowerCase() !== 'true';
  return {
    sizes,
    bytesPerVoxel:
      elementBytes !== undefined && Number.isInteger(channels) && channels >= 1
        ? elementBytes * channels
        : undefined,
    inlineRawOffset: inline && raw ? dataOffset : undefined,
  };
}
