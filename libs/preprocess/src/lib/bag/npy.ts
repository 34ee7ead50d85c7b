/**
 * Reads and writes NumPy `.npy` files (format version 1.0): a magic string, a Python-literal
 * header dict padded so the data starts on a 64-byte boundary, then the raw little-endian
 * array in C order. `numpy.load` reads these files with no extra options.
 *
 * @module
 */

/** The dtypes the patch bag uses, as NumPy's `descr` strings. */
export type NpyDtype = '<i2' | '|u1' | '<f4' | '<i4';

/** The typed array type of each supported dtype. */
export type NpyData = Int16Array | Uint8Array | Float32Array | Int32Array;

/** An array read from or written to a `.npy` file. */
export interface NpyArray {
  dtype: NpyDtype;
  /** Axis lengths, slowest-varying first (C order). */
  shape: number[];
  data: NpyData;
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // "\x93NUMPY"
const PREAMBLE_BYTES = 10; // magic (6), version (2), header length (2)
const HEADER_ALIGNMENT_BYTES = 64; // numpy aligns the data start to 64 bytes
const MAX_V1_HEADER_BYTES = 0xffff;

const DTYPE_BY_ARRAY_TYPE = new Map<Function, NpyDtype>([
  [Int16Array, '<i2'],
  [Uint8Array, '|u1'],
  [Float32Array, '<f4'],
  [Int32Array, '<i4'],
]);

const BYTES_PER_ELEMENT: Record<NpyDtype, number> = { '<i2': 2, '|u1': 1, '<f4': 4, '<i4': 4 };

// NumPy writes '|u1' for uint8 and accepts '<u1' too. Both mean the same bytes.
const DTYPE_ALIASES: Record<string, NpyDtype> = {
  '<i2': '<i2',
  '|u1': '|u1',
  '<u1': '|u1',
  '|i2': '<i2',
  '<f4': '<f4',
  '<i4': '<i4',
};

// Typed arrays use the host's byte order, and .npy here is little-endian only.
const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Returns the `.npy` dtype of a typed array. */
export function npyDtypeOf(data: NpyData): NpyDtype {
  const dtype = DTYPE_BY_ARRAY_TYPE.get(data.constructor);
  if (dtype === undefined) {
    throw new TypeError(`unsupported array type ${data.constructor.name} for .npy`);
  }
  return dtype;
}

/**
 * Formats the header dict exactly as `numpy.lib.format` does, for example
 * `{'descr': '<i2', 'fortran_order': False, 'shape': (3, 16, 16, 16), }`, padded with spaces
 * and a final newline so that preamble plus header is a multiple of 64 bytes.
 */
export function formatNpyHeader(dtype: NpyDtype, shape: readonly number[]): string {
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  const dict = `{'descr': '${dtype}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  const unpadded = PREAMBLE_BYTES + dict.length + 1;
  const padding =
    (HEADER_ALIGNMENT_BYTES - (unpadded % HEADER_ALIGNMENT_BYTES)) % HEADER_ALIGNMENT_BYTES;
  return dict + ' '.repeat(padding) + '\n';
}

/**
 * Encodes an array as `.npy` bytes.
 *
 * @param shape - axis lengths in C order; their product must equal `data.length`.
 * @throws RangeError when the shape does not match the data length.
 */
export function encodeNpy(data: NpyData, shape: readonly number[]): Uint8Array {
  checkShape(shape, data.length);
  if (!HOST_IS_LITTLE_ENDIAN) {
    throw new Error('.npy writing requires a little-endian host');
  }

  const header = formatNpyHeader(npyDtypeOf(data), shape);
  if (header.length > MAX_V1_HEADER_BYTES) {
    throw new RangeError(`.npy header of ${header.length} bytes exceeds the version 1.0 limit`);
  }

  const out = new Uint8Array(PREAMBLE_BYTES + header.length + data.byteLength);
  out.set(MAGIC, 0);
  out[6] = 1; // major version
  out[7] = 0; // minor version
  out[8] = header.length & 0xff;
  out[9] = header.length >> 8;
  for (let c = 0; c < header.length; c++) {
    out[PREAMBLE_BYTES + c] = header.charCodeAt(c);
  }
  out.set(
    new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
    PREAMBLE_BYTES + header.length,
  );
  return out;
}

/**
 * Decodes `.npy` bytes of format version 1.0 or 2.0 holding one of the supported dtypes in C
 * order. The returned data is a copy, aligned for its typed array.
 *
 * @throws Error naming the problem when the bytes are not such a file.
 */
export function decodeNpy(bytes: Uint8Array): NpyArray {
  if (bytes.length < PREAMBLE_BYTES || MAGIC.some((value, index) => bytes[index] !== value)) {
    throw new Error('invalid .npy file: the magic string is missing');
  }

  const major = bytes[6];
  let headerLength: number;
  let headerStart: number;
  if (major === 1) {
    headerLength = bytes[8] | (bytes[9] << 8);
    headerStart = PREAMBLE_BYTES;
  } else if (major === 2) {
    headerLength = new DataView(bytes.buffer, bytes.byteOffset + 8, 4).getUint32(0, true);
    headerStart = 12;
  } else {
    throw new Error(`unsupported .npy format version ${major}.${bytes[7]}`);
  }

  const dataStart = headerStart + headerLength;
  if (dataStart > bytes.length) {
    throw new Error('invalid .npy file: the header is truncated');
  }
  const header = new TextDecoder('latin1').decode(bytes.subarray(headerStart, dataStart));
  const { dtype, shape } = parseNpyHeader(header);

  const count = shape.reduce((product, length) => product * length, 1);
  const byteLength = count * BYTES_PER_ELEMENT[dtype];
  if (dataStart + byteLength !== bytes.length) {
    throw new Error(
      `invalid .npy file: shape (${shape.join(', ')}) needs ${byteLength} data bytes, ` +
        `found ${bytes.length - dataStart}`,
    );
  }

  if (!HOST_IS_LITTLE_ENDIAN) {
    throw new Error('.npy reading requires a little-endian host');
  }
  const copy = bytes.slice(dataStart, dataStart + byteLength);
  return { dtype, shape, data: viewAs(dtype, copy.buffer) };
}

function parseNpyHeader(header: string): { dtype: NpyDtype; shape: number[] } {
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(header)?.[1];
  const fortranOrder = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortranOrder === undefined || shapeText === undefined) {
    throw new Error(`invalid .npy header: ${JSON.stringify(header.trim())}`);
  }

  const dtype = DTYPE_ALIASES[descr];
  if (dtype === undefined) {
    throw new Error(`unsupported .npy dtype '${descr}': expected one of <i2, |u1, <f4, <i4`);
  }
  if (fortranOrder === 'True') {
    throw new Error('unsupported .npy file in Fortran order: save the array in C order');
  }

  const shape = shapeText
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part.length > 0)
    .map((part) => Number(part));
  if (shape.some((length) => !Number.isInteger(length) || length < 0)) {
    throw new Error(`invalid .npy shape (${shapeText})`);
  }
  return { dtype, shape };
}

function viewAs(dtype: NpyDtype, buffer: ArrayBuffer): NpyData {
  switch (dtype) {
    case '<i2':
      return new Int16Array(buffer);
    case '|u1':
      return new Uint8Array(buffer);
    case '<f4':
      return new Float32Array(buffer);
    case '<i4':
      return new Int32Array(buffer);
  }
}

function checkShape(shape: readonly number[], length: number): void {
  if (shape.some((axis) => !Number.isInteger(axis) || axis < 0)) {
    throw new RangeError(`invalid .npy shape (${shape.join(', ')}): axes must be integers ≥ 0`);
  }
  const count = shape.reduce((product, axis) => product * axis, 1);
  if (count !== length) {
    throw new RangeError(
      `shape (${shape.join(', ')}) has ${count} elements but the data has ${length}`,
    );
  }
}
