import { gzipSync } from 'node:zlib';

/** Fields of a hand-written NIfTI-1 file; unset fields take the values of a plain 3-D volume. */
export interface NiftiFixture {
  /** Voxel counts per axis: 3 or 4 entries. */
  dims: number[];
  /** NIfTI datatype code: 4 int16, 512 uint16, 16 float32. */
  datatype: 4 | 512 | 16;
  data: Int16Array | Uint16Array | Float32Array;
  /** pixdim[1..3] in mm. */
  pixdimMm?: [number, number, number];
  /** pixdim[0]: -1 flips the third axis of the qform. */
  qfac?: number;
  qformCode?: number;
  /** Quaternion b, c, d of the qform. */
  quaternion?: [number, number, number];
  qoffsetMm?: [number, number, number];
  sformCode?: number;
  /** Rows of the 3×4 sform affine (RAS mm). */
  srow?: [number[], number[], number[]];
  sclSlope?: number;
  sclInter?: number;
}

const HEADER_BYTES = 348;
const VOX_OFFSET = 352;

/** Encodes a NIfTI-1 single file (.nii); pass `gzip` for .nii.gz bytes. */
export function encodeNifti1(fixture: NiftiFixture, gzip = false): Buffer {
  const bytes = Buffer.alloc(VOX_OFFSET + fixture.data.byteLength);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  view.setInt32(0, HEADER_BYTES, true);

  view.setInt16(40, fixture.dims.length, true);
  for (let axis = 0; axis < 7; axis++) {
    view.setInt16(42 + 2 * axis, fixture.dims[axis] ?? 1, true);
  }
  const bitpix = fixture.datatype === 16 ? 32 : 16;
  view.setInt16(70, fixture.datatype, true);
  view.setInt16(72, bitpix, true);
  const pixdim = fixture.pixdimMm ?? [1, 1, 1];
  view.setFloat32(76, fixture.qfac ?? 1, true);
  for (let axis = 0; axis < 3; axis++) view.setFloat32(80 + 4 * axis, pixdim[axis], true);
  for (let axis = 3; axis < 7; axis++) view.setFloat32(80 + 4 * axis, 1, true);

  view.setFloat32(108, VOX_OFFSET, true);
  view.setFloat32(112, fixture.sclSlope ?? 1, true);
  view.setFloat32(116, fixture.sclInter ?? 0, true);
  view.setUint8(123, 2); // xyzt_units: millimetres
  view.setInt16(252, fixture.qformCode ?? 0, true);
  view.setInt16(254, fixture.sformCode ?? 0, true);

  const quaternion = fixture.quaternion ?? [0, 0, 0];
  const qoffset = fixture.qoffsetMm ?? [0, 0, 0];
  for (let i = 0; i < 3; i++) {
    view.setFloat32(256 + 4 * i, quaternion[i], true);
    view.setFloat32(268 + 4 * i, qoffset[i], true);
  }
  const srow = fixture.srow ?? [
    [pixdim[0], 0, 0, 0],
    [0, pixdim[1], 0, 0],
    [0, 0, pixdim[2], 0],
  ];
  for (let row = 0; row < 3; row++) {
    for (let col = 0; col < 4; col++)
      view.setFloat32(280 + 16 * row + 4 * col, srow[row][col], true);
  }

  bytes.write('n+1\0', 344, 'latin1');
  Buffer.from(fixture.data.buffer, fixture.data.byteOffset, fixture.data.byteLength).copy(
    bytes,
    VOX_OFFSET,
  );
  return gzip ? gzipSync(bytes) : bytes;
}

const NIFTI2_HEADER_BYTES = 540;
const NIFTI2_VOX_OFFSET = 544;

/** Encodes a NIfTI-2 single file (.nii) with int16 data and an sform only. */
export function encodeNifti2(
  dims: number[],
  data: Int16Array,
  pixdimMm: [number, number, number],
  srow: [number[], number[], number[]],
): Buffer {
  const bytes = Buffer.alloc(NIFTI2_VOX_OFFSET + data.byteLength);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  view.setInt32(0, NIFTI2_HEADER_BYTES, true);
  bytes.write('n+2\0\r\n\x1a\n', 4, 'latin1');
  view.setInt16(12, 4, true); // datatype: int16
  view.setInt16(14, 16, true); // bitpix
  view.setBigInt64(16, BigInt(dims.length), true);
  for (let axis = 0; axis < 7; axis++)
    view.setBigInt64(24 + 8 * axis, BigInt(dims[axis] ?? 1), true);
  view.setFloat64(104, 1, true);
  for (let axis = 0; axis < 3; axis++) view.setFloat64(112 + 8 * axis, pixdimMm[axis], true);
  for (let axis = 3; axis < 7; axis++) view.setFloat64(112 + 8 * axis, 1, true);
  view.setBigInt64(168, BigInt(NIFTI2_VOX_OFFSET), true);
  view.setFloat64(176, 1, true); // scl_slope
  view.setInt32(348, 1, true); // sform_code
  for (let row = 0; row < 3; row++) {
    for (let col = 0; col < 4; col++)
      view.setFloat64(400 + 32 * row + 8 * col, srow[row][col], true);
  }
  view.setInt32(500, 2, true); // xyzt_units: millimetres
  Buffer.from(data.buffer, data.byteOffset, data.byteLength).copy(bytes, NIFTI2_VOX_OFFSET);
  return bytes;
}
