import dicomParser from 'dicom-parser';

/** VRs whose explicit-VR length field is 4 bytes (after 2 reserved bytes). */
const LONG_LENGTH_VRS = new Set([
  'OB',
  'OD',
  'OF',
  'OL',
  'OV',
  'OW',
  'SQ',
  'SV',
  'UC',
  'UN',
  'UR',
  'UT',
  'UV',
]);

function parse(bytes: Buffer): dicomParser.DataSet {
  return dicomParser.parseDicom(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
}

/**
 * Replaces the value of an existing top-level element of a little-endian DICOM file (implicit
 * or explicit VR) and fixes its length field and, inside the file meta group, the group
 * length. Values are padded to even length with NUL for UIDs and a space otherwise.
 *
 * Test-only: it does not handle elements inside sequences or of undefined length.
 */
export function setDicomString(bytes: Buffer, tag: string, value: string): Buffer {
  const dataSet = parse(bytes);
  const element = dataSet.elements[tag];
  if (element === undefined) throw new Error(`Element ${tag} not found`);
  const isUid = /^[0-9.]+$/.test(value) && value.includes('.');
  const padded = value.length % 2 === 0 ? value : value + (isUid ? '\0' : ' ');
  const replacement = Buffer.from(padded, 'latin1');
  const delta = replacement.length - element.length;

  const output = Buffer.concat([
    bytes.subarray(0, element.dataOffset),
    replacement,
    bytes.subarray(element.dataOffset + element.length),
  ]);
  if (element.vr === undefined || LONG_LENGTH_VRS.has(element.vr)) {
    output.writeUInt32LE(replacement.length, element.dataOffset - 4);
  } else {
    output.writeUInt16LE(replacement.length, element.dataOffset - 2);
  }
  const groupLength = dataSet.elements.x00020000;
  if (tag.startsWith('x0002') && groupLength !== undefined) {
    const current = output.readUInt32LE(groupLength.dataOffset);
    output.writeUInt32LE(current + delta, groupLength.dataOffset);
  }
  return output;
}

/** Reads a string element as dicom-parser returns it. */
export function getDicomString(bytes: Buffer, tag: string): string | undefined {
  return parse(bytes).string(tag);
}

/** Returns a copy whose pixel data differs from the original in its first 64 bytes. */
export function alterPixelData(bytes: Buffer): Buffer {
  const output = Buffer.from(bytes);
  const element = parse(bytes).elements.x7fe00010;
  for (let index = 0; index < 64; index++) {
    output[element.dataOffset + index] ^= 0x55;
  }
  return output;
}

/** Returns the file cut short inside its pixel data. */
export function truncatePixelData(bytes: Buffer): Buffer {
  const element = parse(bytes).elements.x7fe00010;
  return bytes.subarray(0, element.dataOffset + Math.floor(element.length / 2));
}
