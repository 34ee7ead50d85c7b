import { open } from 'node:fs/promises';
import { constants, gunzipSync } from 'node:zlib';

/** Scan file kinds the server accepts, recognised by content. */
export type UploadKind = 'nifti' | 'nifti-gz' | 'nrrd' | 'metaimage' | 'zip' | 'dicom';

/** File name each kind is stored under, so that `readScan` picks the reader by extension. */
export const STORED_EXTENSION: Record<Exclude<UploadKind, 'dicom'>, string> = {
  nifti: '.nii',
  'nifti-gz': '.nii.gz',
  nrrd: '.nrrd',
  metaimage: '.mha',
  zip: '.zip',
};

/** Bytes read from the start of each upload; enough for the DICOM preamble and a NIfTI header. */
export const SNIFF_BYTES = 1024;

/**
 * Identifies a scan file from its first bytes, never from its name: gzip (accepted only when
 * it inflates to a NIfTI header), NIfTI-1 or NIfTI-2 (`sizeof_hdr` 348 or 540), the NRRD magic,
 * MetaImage `ObjectType`/`NDims` keys, a zip local header, or `DICM` after the 128-byte
 * preamble. Returns undefined for anything else.
 */
export function identifyUpload(head: Buffer): UploadKind | undefined {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) {
    return isNiftiHeader(inflatePrefix(head)) ? 'nifti-gz' : undefined;
  }
  if (isNiftiHeader(head)) return 'nifti';
  const text = head.subarray(0, 64).toString('latin1');
  if (text.startsWith('NRRD000')) return 'nrrd';
  if (/^(ObjectType|NDims)\s*=/.test(text)) return 'metaimage';
  if (head.length >= 4 && head.readUInt32LE(0) === 0x04034b50) return 'zip';
  if (head.length >= 132 && head.subarray(128, 132).toString('latin1') === 'DICM') return 'dicom';
  return undefined;
}

/** Reads the first `SNIFF_BYTES` of a file. */
export async function readHead(path: string): Promise<Buffer> {
  const handle = await open(path, 'r');
  try {
    const buffer = Buffer.alloc(SNIFF_BYTES);
    const { bytesRead } = await handle.read(buffer, 0, SNIFF_BYTES, 0);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

function isNiftiHeader(head: Buffer): boolean {
  if (head.length < 4) return false;
  const little = head.readInt32LE(0);
  const big = head.readInt32BE(0);
  return little === 348 || big === 348 || little === 540 || big === 540;
}

/**
 * Inflates what the first bytes of a gzip stream hold. A prefix ends mid-stream, so the
 * flush mode returns the bytes inflated so far instead of raising.
 */
function inflatePrefix(head: Buffer): Buffer {
  try {
    return gunzipSync(head, { finishFlush: constants.Z_SYNC_FLUSH });
  } catch {
    return Buffer.alloc(0);
  }
}
