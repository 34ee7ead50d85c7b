import { createReadStream } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import path from 'node:path';
import { createGunzip, createInflate } from 'node:zlib';

import { InputError } from '../errors.ts';

/** Pixel data layout declared by a NRRD or MetaImage header. */
export interface TextHeader {
  sizes: number[];
  /** Voxel spacing in mm, when the header declares it. */
  spacingMm?: number[];
  /** Bytes per voxel of the stored element type. */
  bytesPerVoxel: number;
  /** Compression of the pixel data; 'other' (such as bzip2) is left to ITK unchecked. */
  compression: 'none' | 'gzip' | 'zlib' | 'other';
  /** File containing the pixel data: the header file (after `dataOffset`) or a detached one. */
  dataFile: string;
  dataOffset: number;
}

/** Headers larger than this are not NRRD or MetaImage headers of a CT scan. */
const MAX_HEADER_BYTES = 65536;

async function readHeaderText(file: string): Promise<string> {
  const handle = await open(file, 'r');
  try {
    const buffer = Buffer.alloc(MAX_HEADER_BYTES);
    const { bytesRead } = await handle.read(buffer, 0, MAX_HEADER_BYTES, 0);
    return buffer.subarray(0, bytesRead).toString('latin1');
  } finally {
    await handle.close();
  }
}

function corrupt(file: string, reason: string): InputError {
  return new InputError('INPUT_CORRUPT', `Scan file ${file} is corrupt: ${reason}.`, { file });
}

function bytesPerElement(typeName: string): number {
  const type = typeName.toLowerCase();
  if (/char|int8|uint8/.test(type)) return 1;
  if (/short|int16/.test(type)) return 2;
  if (/double|int64|long_long|longlong|long long/.test(type)) return 8;
  return 4;
}

function parseSizes(text: string | undefined, file: string, key: string): number[] {
  const sizes = (text ?? '').trim().split(/\s+/).map(Number);
  if (sizes.length === 0 || sizes.some((size) => !Number.isInteger(size) || size < 1)) {
    throw corrupt(file, `its ${key} field "${text ?? ''}" is not a list of positive integers`);
  }
  return sizes;
}

/** Reads spacing from `spacings:` or as the lengths of the `space directions:` vectors. */
function nrrdSpacing(fields: Map<string, string>): number[] | undefined {
  const spacings = fields.get('spacings');
  if (spacings !== undefined) {
    return spacings
      .trim()
      .split(/\s+/)
      .map((value) => (value === 'nan' ? NaN : Number(value)));
  }
  const directions = fields.get('space directions');
  if (directions === undefined) return undefined;
  // Axes without a direction ("none", such as a vector axis) carry no spacing.
  const vectors = directions.match(/\([^)]*\)/g) ?? [];
  return vectors.map((vector) => Math.hypot(...vector.slice(1, -1).split(',').map(Number)));
}

/** Parses the header of a .nrrd or .nhdr file without reading the pixel data. */
export async function readNrrdHeader(file: string): Promise<TextHeader> {
  const text = await readHeaderText(file);
  if (!text.startsWith('NRRD')) throw corrupt(file, 'it does not start with a NRRD magic line');
  const end = text.search(/\r?\n\r?\n/);
  const headerText = end < 0 ? text : text.slice(0, end);
  const fields = new Map<string, string>();
  for (const line of headerText.split(/\r?\n/).slice(1)) {
    const match = /^([^#:][^:]*):=?\s*(.*)$/.exec(line);
    if (match) fields.set(match[1].trim().toLowerCase(), match[2].trim());
  }
  const encoding = (fields.get('encoding') ?? 'raw').toLowerCase();
  const detached = fields.get('data file') ?? fields.get('datafile');
  const dataOffset = end < 0 ? text.length : end + (text[end] === '\r' ? 4 : 2);
  return {
    sizes: parseSizes(fields.get('sizes'), file, 'sizes'),
    spacingMm: nrrdSpacing(fields),
    bytesPerVoxel: bytesPerElement(fields.get('type') ?? ''),
    compression: nrrdCompression(encoding),
    dataFile: detached ? path.resolve(path.dirname(file), detached.split(/\s+/)[0]) : file,
    dataOffset: detached ? 0 : dataOffset,
  };
}

function nrrdCompression(encoding: string): 'none' | 'gzip' | 'other' {
  if (encoding === 'raw') return 'none';
  if (encoding === 'gzip' || encoding === 'gz') return 'gzip';
  return 'other';
}

/** Parses the header of a .mha or .mhd file without reading the pixel data. */
export async function readMetaImageHeader(file: string): Promise<TextHeader> {
  const text = await readHeaderText(file);
  const fields = new Map<string, string>();
  let dataOffset = -1;
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
  const dataFileName = fields.get('elementdatafile');
  if (dataFileName === undefined || !fields.has('dimsize')) {
    throw corrupt(file, 'its MetaImage header lacks DimSize or ElementDataFile');
  }
  const local = dataFileName.toUpperCase() === 'LOCAL';
  const spacing = fields.get('elementspacing') ?? fields.get('elementsize');
  return {
    sizes: parseSizes(fields.get('dimsize'), file, 'DimSize'),
    spacingMm: spacing === undefined ? undefined : spacing.trim().split(/\s+/).map(Number),
    bytesPerVoxel:
      bytesPerElement(fields.get('elementtype') ?? '') *
      Number(fields.get('elementnumberofchannels') ?? 1),
    compression:
      (fields.get('compresseddata') ?? 'false').toLowerCase() === 'true' ? 'zlib' : 'none',
    dataFile: local ? file : path.resolve(path.dirname(file), dataFileName),
    dataOffset: local ? dataOffset : 0,
  };
}

/**
 * Rejects a missing detached data file, and pixel data shorter than the header declares. Gzip
 * and zlib data is inflated once to check it, because ITK-wasm image-io 1.6.1 returns wrong
 * voxels from some truncated compressed MetaImage files and aborts the process on others.
 *
 * @throws InputError `INPUT_CORRUPT`
 */
export async function checkPixelDataLength(header: TextHeader, file: string): Promise<void> {
  const stats = await stat(header.dataFile).catch(() => undefined);
  if (stats === undefined) {
    throw corrupt(file, `its pixel data file ${header.dataFile} is missing`);
  }
  const voxels = header.sizes.reduce((product, size) => product * size, 1);
  const expectedBytes = voxels * header.bytesPerVoxel;
  let dataBytes: number;
  if (header.compression === 'none') {
    dataBytes = stats.size - header.dataOffset;
  } else if (header.compression === 'other') {
    return;
  } else {
    dataBytes = await inflatedLength(header, file);
  }
  if (dataBytes < expectedBytes) {
    throw corrupt(
      file,
      `${header.dataFile} has ${dataBytes} bytes of pixel data but the header declares ` +
        `${expectedBytes}`,
    );
  }
}

/** Inflates the pixel data without keeping it and returns its length. */
async function inflatedLength(header: TextHeader, file: string): Promise<number> {
  const source = createReadStream(header.dataFile, { start: header.dataOffset });
  const inflater = header.compression === 'gzip' ? createGunzip() : createInflate();
  let length = 0;
  try {
    for await (const chunk of source.pipe(inflater)) length += (chunk as Buffer).length;
  } catch (error) {
    throw corrupt(
      file,
      `its compressed pixel data is damaged or truncated (${(error as Error).message})`,
    );
  } finally {
    source.destroy();
  }
  return length;
}
