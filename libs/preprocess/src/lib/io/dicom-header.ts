import { open, readFile } from 'node:fs/promises';

// dicom-parser (Cornerstone) parses Part 10 headers in plain JavaScript and can stop before the
// pixel data, so hundreds of slices are classified without decoding any image or starting WASM.
import dicomParser from 'dicom-parser';

/** Header fields of one DICOM file that series selection and slice validation use. */
export interface DicomHeader {
  file: string;
  sopClassUid: string;
  transferSyntaxUid: string;
  /** Empty when the file has no Modality element. */
  modality: string;
  imageType: string[];
  seriesInstanceUid: string;
  rows: number;
  columns: number;
  numberOfFrames: number;
  /** ImagePositionPatient (LPS mm); undefined when missing. */
  positionMm?: [number, number, number];
  /** ImageOrientationPatient: row then column direction cosines. */
  orientation?: number[];
  /** PixelSpacing: between rows, then between columns, in mm. */
  pixelSpacingMm?: [number, number];
  sliceThicknessMm?: number;
  hasPixelData: boolean;
  /** Whether the file ends before the declared length of its pixel data element. */
  pixelDataTruncated: boolean;
}

/**
 * Bytes read first. Private vendor elements can push the pixel data far in (about 48 KiB in
 * the POPI slices), and a longer header costs one extra read of the whole file.
 */
const LEADING_BYTES = 131072;

/** Length field value of an element whose end is marked by a delimiter. */
const UNDEFINED_LENGTH = 0xffffffff;

/** SOP class of a DICOMDIR, which indexes files but contains no image. */
export const MEDIA_STORAGE_DIRECTORY_SOP_CLASS = '1.2.840.10008.1.3.10';

async function readLeadingBytes(file: string) {
  const handle = await open(file, 'r');
  try {
    const { size } = await handle.stat();
    const length = Math.min(size, LEADING_BYTES);
    const bytes = Buffer.alloc(length);
    await handle.read(bytes, 0, length, 0);
    return { bytes, complete: length === size, size };
  } finally {
    await handle.close();
  }
}

function parse(bytes: Buffer): dicomParser.DataSet {
  const array = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return dicomParser.parseDicom(array, { untilTag: 'x7fe00010' });
}

function numbers(dataSet: dicomParser.DataSet, tag: string): number[] | undefined {
  const text = dataSet.string(tag);
  if (text === undefined || text.trim() === '') return undefined;
  const values = text.split('\\').map(Number);
  return values.every(Number.isFinite) ? values : undefined;
}

/**
 * Parses the header of a DICOM Part 10 file, reading past the first 128 KiB only when the
 * pixel data element lies beyond them. Returns undefined for files that are not DICOM Part 10.
 */
export async function readDicomHeader(file: string): Promise<DicomHeader | undefined> {
  let dataSet: dicomParser.DataSet;
  let fileSize: number;
  try {
    const { bytes, complete, size } = await readLeadingBytes(file);
    fileSize = size;
    dataSet = parse(bytes);
    if (!complete && dataSet.elements.x7fe00010 === undefined) {
      dataSet = parse(await readFile(file));
    }
  } catch {
    return undefined;
  }

  const pixelData = dataSet.elements.x7fe00010;
  const position = numbers(dataSet, 'x00200032');
  const pixelSpacing = numbers(dataSet, 'x00280030');
  return {
    file,
    sopClassUid: dataSet.string('x00080016') ?? dataSet.string('x00020002') ?? '',
    transferSyntaxUid: dataSet.string('x00020010') ?? '',
    modality: (dataSet.string('x00080060') ?? '').toUpperCase(),
    imageType: (dataSet.string('x00080008') ?? '').toUpperCase().split('\\'),
    seriesInstanceUid: dataSet.string('x0020000e') ?? '',
    rows: dataSet.uint16('x00280010') ?? 0,
    columns: dataSet.uint16('x00280011') ?? 0,
    numberOfFrames: dataSet.intString('x00280008') ?? 1,
    positionMm: position?.length === 3 ? (position as [number, number, number]) : undefined,
    orientation: numbers(dataSet, 'x00200037'),
    pixelSpacingMm: pixelSpacing?.length === 2 ? (pixelSpacing as [number, number]) : undefined,
    sliceThicknessMm: numbers(dataSet, 'x00180050')?.[0],
    hasPixelData: pixelData !== undefined,
    pixelDataTruncated:
      pixelData !== undefined &&
      pixelData.length !== UNDEFINED_LENGTH &&
      pixelData.dataOffset + pixelData.length > fileSize,
  };
}

/**
 * Returns the stored bytes of the pixel data element (encapsulated fragments included), for
 * comparing two slices at the same position without decoding them.
 */
export async function readPixelDataBytes(file: string): Promise<Buffer> {
  const bytes = await readFile(file);
  const dataSet = dicomParser.parseDicom(
    new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength),
  );
  const element = dataSet.elements.x7fe00010;
  if (element === undefined) return Buffer.alloc(0);
  const end =
    element.length === UNDEFINED_LENGTH ? bytes.length : element.dataOffset + element.length;
  return bytes.subarray(element.dataOffset, end);
}
