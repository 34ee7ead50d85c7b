import { mkdir, open, rename, stat } from 'node:fs/promises';
import { join } from 'node:path';

import { checkZipArchive, isInputError, zipLimitsFor } from '@dlco/preprocess';

import { HttpError, httpErrorFromInputError } from './errors.ts';
import { checkScanHeader } from './header-check.ts';
import { identifyUpload, readHead, STORED_EXTENSION } from './sniff.ts';
import { SCAN_FIELD, type StoredFile } from './upload.ts';

/** Bytes of a NRRD or MetaImage header searched for the data file, as many as `readScan` reads. */
const MAX_HEADER_BYTES = 65536;

/** File name extensions of a header whose pixel data is in a separate file. */
const DETACHED_HEADER_EXTENSION = { nrrd: '.nhdr', metaimage: '.mhd' } as const;

const SUPPORTED_UPLOADS =
  'Send NIfTI (.nii, .nii.gz), NRRD (.nrrd, or .nhdr with its data file), MetaImage (.mha, or ' +
  '.mhd with its data file), a .zip of a DICOM series or DICOM files of one series.';

/**
 * Checks the uploaded files by content and lays them out so that `readScan` reads them:
 *
 * - one volume file gets its format's extension;
 * - several DICOM files go into a `dicom/` folder, named by their order;
 * - a NRRD or MetaImage header that names a separate data file goes into a `volume/` folder
 *   with that data file, which keeps its client file name. The name in the header must be a
 *   plain file name that matches one uploaded part exactly, so that no header can point a
 *   reader at a file outside the job folder.
 *
 * A .zip is checked from its central directory (entry names, count and declared sizes) before
 * it is accepted. Its extraction in the job counts the inflated bytes again, because a
 * directory can lie.
 *
 * @returns the scan path for `predictScan`
 * @throws HttpError 400 `UPLOAD_INVALID` without a file or with an empty one, 400
 *   `UPLOAD_FILE_NAME_DUPLICATE`, 400 `UPLOAD_DATA_FILE_INVALID` for a header whose data file
 *   reference or parts do not match, 415 `UPLOAD_TYPE_UNSUPPORTED`, 422 `ZIP_INVALID` or
 *   `INPUT_TOO_LARGE` for a rejected .zip, and 422 `INPUT_NOT_3D`, `INPUT_TOO_LARGE` or
 *   `INPUT_CORRUPT` for a volume file whose header `checkScanHeader` rejects.
 */
export async function storeScan(
  uploadDir: string,
  files: StoredFile[],
  options: { maxVoxels: number },
): Promise<string> {
  if (files.length === 0) {
    const message = `Missing file field '${SCAN_FIELD}'. ${SUPPORTED_UPLOADS}`;
    throw new HttpError(400, 'UPLOAD_INVALID', message);
  }
  await rejectEmptyFiles(files);
  rejectDuplicateNames(files);
  const kinds = await Promise.all(
    files.map(async (file) => identifyUpload(await readHead(file.path))),
  );

  if (kinds.every((kind) => kind === 'dicom')) {
    const folder = join(uploadDir, 'dicom');
    await mkdir(folder);
    await Promise.all(files.map((file, n) => rename(file.path, join(folder, `${n}.dcm`))));
    return folder;
  }
  const headers = kinds.flatMap((kind, index) =>
    kind === 'nrrd' || kind === 'metaimage' ? [{ index, kind }] : [],
  );
  if (headers.length > 1) {
    throw new HttpError(
      400,
      'UPLOAD_INVALID',
      `The upload has ${headers.length} NRRD or MetaImage headers. Send one scan per request.`,
    );
  }
  const unknown = kinds.findIndex((kind) => kind === undefined);
  // A header's data file has no format of its own, so any other recognised scan is a mix.
  const scans = kinds.filter((kind) => kind !== undefined).length;
  if (headers.length === 1 && scans === 1) {
    const { index, kind } = headers[0];
    const headerPath = await storeVolumeWithHeader(uploadDir, files, index, kind);
    await checkScanHeader(headerPath, kind, uploadDir, options.maxVoxels);
    return headerPath;
  }
  if (scans > 1) throw mixedUpload();
  if (unknown >= 0) {
    throw new HttpError(
      415,
      'UPLOAD_TYPE_UNSUPPORTED',
      `${describePart(files, unknown)} is not a supported scan. ${SUPPORTED_UPLOADS}`,
      { details: { fileIndex: unknown } },
    );
  }
  if (files.length > 1) throw mixedUpload();
  const kind = kinds[0] as keyof typeof STORED_EXTENSION;
  const scanPath = join(uploadDir, `scan${STORED_EXTENSION[kind]}`);
  await rename(files[0].path, scanPath);
  if (kind === 'zip') {
    await checkZip(scanPath, uploadDir, options.maxVoxels);
  } else {
    await checkScanHeader(scanPath, kind, uploadDir, options.maxVoxels);
  }
  return scanPath;
}

function mixedUpload(): HttpError {
  return new HttpError(
    415,
    'UPLOAD_TYPE_UNSUPPORTED',
    'Several files are accepted only as DICOM files of one series, or as a NRRD or ' +
      'MetaImage header with the data file it names. Send other formats as one file.',
  );
}

async function rejectEmptyFiles(files: StoredFile[]): Promise<void> {
  for (const [index, file] of files.entries()) {
    if ((await stat(file.path)).size > 0) continue;
    throw new HttpError(
      400,
      'UPLOAD_INVALID',
      `${describePart(files, index)} is empty. Attach the scan file's content.`,
      { details: { fileIndex: index } },
    );
  }
}

/** Rejects two parts with the same name, ignoring case as macOS and Windows file systems do. */
function rejectDuplicateNames(files: StoredFile[]): void {
  const seen = new Map<string, number>();
  for (const [index, file] of files.entries()) {
    if (file.name === undefined) continue;
    const key = file.name.toLowerCase();
    const first = seen.get(key);
    if (first !== undefined) {
      throw new HttpError(
        400,
        'UPLOAD_FILE_NAME_DUPLICATE',
        `Scan parts ${first + 1} and ${index + 1} have the same file name '${file.name}'. ` +
          'Send each file once, under a distinct name.',
        { details: { fileName: file.name, fileIndexes: [first, index] } },
      );
    }
    seen.set(key, index);
  }
}

async function checkZip(zipPath: string, uploadDir: string, maxVoxels: number): Promise<void> {
  try {
    await checkZipArchive(zipPath, zipLimitsFor(maxVoxels));
  } catch (error) {
    if (isInputError(error)) throw httpErrorFromInputError(error, uploadDir);
    throw error;
  }
}

/**
 * Stores a NRRD or MetaImage header, and the data file it names when its pixel data is
 * detached, under server-chosen names in `uploadDir/volume/`.
 */
async function storeVolumeWithHeader(
  uploadDir: string,
  files: StoredFile[],
  headerIndex: number,
  kind: 'nrrd' | 'metaimage',
): Promise<string> {
  const header = files[headerIndex];
  const reference = await readDataFileReference(header.path, kind);
  const others = files.filter((_, index) => index !== headerIndex);
  if (reference === undefined) {
    if (others.length > 0) {
      throw unreferencedParts(others, 'the header contains its pixel data');
    }
    const scanPath = join(uploadDir, `scan${STORED_EXTENSION[kind]}`);
    await rename(header.path, scanPath);
    return scanPath;
  }

  checkReferenceName(reference);
  const data = others.find((file) => file.name === reference);
  if (data === undefined) {
    throw new HttpError(
      400,
      'UPLOAD_DATA_FILE_INVALID',
      `The header names the data file '${reference}', but no '${SCAN_FIELD}' part has that ` +
        `file name. Send the data file as another '${SCAN_FIELD}' part named '${reference}'.`,
      { details: { dataFile: reference } },
    );
  }
  const extra = others.filter((file) => file !== data);
  if (extra.length > 0) {
    throw unreferencedParts(extra, `the header names only '${reference}'`);
  }

  const folder = join(uploadDir, 'volume');
  await mkdir(folder);
  const extension = DETACHED_HEADER_EXTENSION[kind];
  // The header gets a server-chosen name that differs from the data file's.
  const stem = `scan${extension}` === reference.toLowerCase() ? 'header' : 'scan';
  const headerPath = join(folder, `${stem}${extension}`);
  await rename(header.path, headerPath);
  await rename(data.path, join(folder, reference));
  return headerPath;
}

/**
 * Reads the data file a NRRD (`data file:` or `datafile:`) or MetaImage (`ElementDataFile =`)
 * header names. Keys are matched without regard to case, which covers every spelling that the
 * preprocessing parser or ITK accepts.
 *
 * @returns the name, or undefined when the pixel data follows the header in the same file
 * @throws HttpError 400 `UPLOAD_DATA_FILE_INVALID` for a header that names its data file twice,
 *   or names a list or numbered pattern of files
 */
async function readDataFileReference(
  path: string,
  kind: 'nrrd' | 'metaimage',
): Promise<string | undefined> {
  const text = await readHeaderText(path);
  const values = kind === 'nrrd' ? nrrdDataFileValues(text) : metaImageDataFileValues(text);
  if (values.length > 1) {
    throw new HttpError(
      400,
      'UPLOAD_DATA_FILE_INVALID',
      `The ${kind === 'nrrd' ? 'NRRD' : 'MetaImage'} header names its data file ` +
        `${values.length} times. Keep one data file line.`,
    );
  }
  const value = values[0];
  if (value === undefined || (kind === 'metaimage' && value.toUpperCase() === 'LOCAL')) {
    return undefined;
  }
  if (/\s/.test(value) || value.toUpperCase() === 'LIST' || value.includes('%')) {
    throw new HttpError(
      400,
      'UPLOAD_DATA_FILE_INVALID',
      `The header names its data as ${JSON.stringify(value.slice(0, 64))}, a list or pattern ` +
        'of files or a name with spaces. Write the volume with one data file whose name has ' +
        'no spaces, or as one .nrrd or .mha file.',
      { details: { dataFile: value.slice(0, 256) } },
    );
  }
  return value;
}

/** Values of the NRRD data file fields, parsed line by line as the preprocessing parser does. */
function nrrdDataFileValues(text: string): string[] {
  const end = text.search(/\r?\n\r?\n/);
  const headerText = end < 0 ? text : text.slice(0, end);
  const values: string[] = [];
  for (const line of headerText.split(/\r?\n/).slice(1)) {
    const match = /^([^#:][^:]*):=?\s*(.*)$/.exec(line);
    if (match === null) continue;
    const key = match[1].trim().toLowerCase();
    if (key === 'data file' || key === 'datafile') values.push(match[2].trim());
  }
  return values;
}

/**
 * Values of the MetaImage `ElementDataFile` key. The first one ends the header, as in MetaIO,
 * and the lines before it are searched whether or not they parse as keys.
 */
function metaImageDataFileValues(text: string): string[] {
  for (const line of text.split('\n')) {
    const match = /^\s*ElementDataFile\s*=\s*(.*?)\s*$/i.exec(line);
    if (match !== null) return [match[1]];
  }
  return [];
}

async function readHeaderText(path: string): Promise<string> {
  const handle = await open(path, 'r');
  try {
    const buffer = Buffer.alloc(MAX_HEADER_BYTES);
    const { bytesRead } = await handle.read(buffer, 0, MAX_HEADER_BYTES, 0);
    return buffer.subarray(0, bytesRead).toString('latin1');
  } finally {
    await handle.close();
  }
}

/**
 * Accepts only a plain file name, so that the reader resolves it inside the header's folder:
 * no path separator, no drive, no leading dot (which also excludes `.` and `..`), no control
 * characters.
 */
function checkReferenceName(name: string): void {
  // eslint-disable-next-line no-control-regex
  const unsafe = /[/\\:\u0000-\u001f\u007f]/.test(name) || name.startsWith('.') || name === '';
  if (!unsafe) return;
  throw new HttpError(
    400,
    'UPLOAD_DATA_FILE_INVALID',
    `The header names the data file ${JSON.stringify(name.slice(0, 64))}, which is not a plain ` +
      'file name. Name the data file without folders, drive letters or a leading dot, and ' +
      `send it as another '${SCAN_FIELD}' part with that name.`,
    { details: { dataFile: name.slice(0, 256) } },
  );
}

function unreferencedParts(parts: StoredFile[], reason: string): HttpError {
  const names = parts.map((part) => (part.name === undefined ? '(no name)' : `'${part.name}'`));
  return new HttpError(
    400,
    'UPLOAD_DATA_FILE_INVALID',
    `The upload has ${parts.length === 1 ? 'a part' : 'parts'} ${names.join(', ')} that the ` +
      `NRRD or MetaImage header does not use: ${reason}. Send only the header and its data ` +
      'file.',
    { details: { fileNames: parts.map((part) => part.name ?? null) } },
  );
}

function describePart(files: StoredFile[], index: number): string {
  const name = files[index].name;
  return `File ${index + 1} of '${SCAN_FIELD}'${name === undefined ? '' : ` ('${name}')`}`;
}
