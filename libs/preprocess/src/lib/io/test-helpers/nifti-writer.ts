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
    for (let col = 0; col < 4; col++) view.setFloat32(280 + 16 * row + 4 * col, srow[row][col], true);
  }
  bytes.write('n+1\0', 344, 'latin1');
  Buffer.from(fixture.data.buffer, fixture.data.byteOffset, fixture.data.byteLength).copy(
    bytes,
    VOX_OFFSET,
  );
  return gzip ? gzipSync(bytes) : bytes;
}
