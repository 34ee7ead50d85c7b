import { crc32, deflateRawSync, gunzipSync } from 'node:zlib';

/** Geometry and int16 voxels of a NIfTI-1 file written by `niftiInt16`. */
export interface NiftiSpec {
  /** Sizes of up to 7 axes, x fastest. */
  dims: number[];
  spacingMm: number[];
  /** Voxel values; omitted to write only the header and its 4-byte extension flag. */
  data?: Int16Array;
}

/**
 * Builds an uncompressed NIfTI-1 file (`.nii`, int16, scale 1, identity sform) from scratch, so
 * that tests can declare any size or number of axes, including ones no real scan has.
 */
export function niftiInt16(spec: NiftiSpec): Buffer {
  const header = Buffer.alloc(352);
  header.writeInt32LE(348, 0);
  header.writeInt16LE(spec.dims.length, 40);
  spec.dims.forEach((size, axis) => header.writeInt16LE(size, 42 + 2 * axis));
  header.writeInt16LE(4, 70); // datatype NIFTI_TYPE_INT16
  header.writeInt16LE(16, 72); // bitpix
  header.writeFloatLE(1, 76); // pixdim[0], the qfac
  spec.spacingMm.forEach((spacing, axis) => header.writeFloatLE(spacing, 80 + 4 * axis));
  header.writeFloatLE(352, 108); // vox_offset
  header.writeFloatLE(1, 112); // scl_slope
  header.writeInt16LE(1, 254); // sform_code NIFTI_XFORM_SCANNER_ANAT
  for (let row = 0; row < 3; row++) {
    header.writeFloatLE(spec.spacingMm[row] ?? 1, 280 + 16 * row + 4 * row);
  }
  header.write('n+1\0', 344, 'latin1');
  if (spec.data === undefined) return header;
  return Buffer.concat([header, Buffer.from(spec.data.buffer, spec.data.byteOffset)]);
}

/**
 * Builds a chest-sized volume of soft tissue (40 HU) inside air (-1000 HU), without any lung: an
 * elliptic body of 30 × 20 cm in a 36 × 36 cm field of view, 40 slices of 5 mm.
 */
export function softTissueVolume(): NiftiSpec {
  const [nx, ny, nz] = [90, 90, 40];
  const data = new Int16Array(nx * ny * nz);
  for (let z = 0; z < nz; z++) {
    for (let y = 0; y < ny; y++) {
      for (let x = 0; x < nx; x++) {
        const inside = ((x - 45) / 37.5) ** 2 + ((y - 45) / 25) ** 2 <= 1;
        data[x + nx * (y + ny * z)] = inside ? 40 : -1000;
      }
    }
  }
  return { dims: [nx, ny, nz], spacingMm: [4, 4, 5], data };
}

/** Header lines and voxel bytes of an attached, gzip-encoded NRRD file. */
export function splitNrrd(nrrd: Buffer): { fields: string[]; voxels: Buffer } {
  const end = nrrd.indexOf('\n\n');
  const fields = nrrd.subarray(0, end).toString('latin1').split('\n');
  const encoding = fields.find((line) => line.startsWith('encoding:'));
  if (encoding !== 'encoding: gzip') throw new Error(`expected a gzip NRRD, got ${encoding}`);
  return { fields, voxels: gunzipSync(nrrd.subarray(end + 2)) };
}

/** Builds a detached NRRD header (`.nhdr`) for raw voxels in `dataFile`, from an attached NRRD. */
export function detachedNrrdHeader(nrrd: Buffer, dataFile: string): Buffer {
  const { fields } = splitNrrd(nrrd);
  const kept = fields.filter((line) => !line.startsWith('encoding:'));
  return Buffer.from(`${[...kept, 'encoding: raw', `data file: ${dataFile}`].join('\n')}\n`);
}

/**
 * Builds a MetaImage header (`.mhd`) for the raw int16 voxels of a 3-D NRRD with axis-aligned space
 * directions in LPS, as the cip-ct64 scan has.
 */
export function metaImageHeader(nrrd: Buffer, dataFile: string): Buffer {
  const { fields } = splitNrrd(nrrd);
  const value = (key: string) => {
    const line = fields.find((candidate) => candidate.startsWith(`${key}:`));
    if (line === undefined) throw new Error(`NRRD header lacks ${key}`);
    return line.slice(key.length + 1).trim();
  };
  const vectors = value('space directions').match(/\(([^)]*)\)/g) ?? [];
  const spacing = vectors.map((vector, axis) => vector.slice(1, -1).split(',').map(Number)[axis]);
  const origin = value('space origin').slice(1, -1).split(',').map(Number);
  const lines = [
    'ObjectType = Image',
    'NDims = 3',
    'BinaryData = True',
    'BinaryDataByteOrderMSB = False',
    'CompressedData = False',
    'TransformMatrix = 1 0 0 0 1 0 0 0 1',
    `Offset = ${origin.join(' ')}`,
    'AnatomicalOrientation = RAI',
    `ElementSpacing = ${spacing.join(' ')}`,
    `DimSize = ${value('sizes')}`,
    'ElementType = MET_SHORT',
    `ElementDataFile = ${dataFile}`,
  ];
  return Buffer.from(`${lines.join('\n')}\n`);
}

/** One entry of `zipArchive`. */
export interface ZipEntrySpec {
  name: string;
  /** Stored bytes, deflated. */
  data: Buffer;
  /** Uncompressed size written to both headers, when it should differ from the real one. */
  declaredSize?: number;
}

/**
 * Writes a zip archive by hand, so that tests can give entries any name and declare false
 * uncompressed sizes, which zip libraries refuse to write.
 */
export function zipArchive(entries: ZipEntrySpec[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const entry of entries) {
    const name = Buffer.from(entry.name, 'utf8');
    const deflated = deflateRawSync(entry.data);
    const size = entry.declaredSize ?? entry.data.length;
    const checksum = crc32(entry.data);

    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(8, 8); // deflate
    local.writeUInt16LE(0x21, 12); // 1980-01-01
    local.writeUInt32LE(checksum, 14);
    local.writeUInt32LE(deflated.length, 18);
    local.writeUInt32LE(size, 22);
    local.writeUInt16LE(name.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(8, 10);
    central.writeUInt16LE(0x21, 14);
    central.writeUInt32LE(checksum, 16);
    central.writeUInt32LE(deflated.length, 20);
    central.writeUInt32LE(size, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(offset, 42);

    locals.push(local, name, deflated);
    centrals.push(central, name);
    offset += local.length + name.length + deflated.length;
  }

  const directory = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, directory, end]);
}

/** Builds the PNG signature and IHDR chunk of a 1 × 1 RGB image: an image file, not a scan. */
export function pngHeader(): Buffer {
  const fields = Buffer.from('00000001000000010802000000', 'hex');
  const body = Buffer.concat([Buffer.from('IHDR'), fields]);
  const length = Buffer.alloc(4);
  length.writeUInt32BE(body.length - 4);
  const checksum = Buffer.alloc(4);
  checksum.writeUInt32BE(crc32(body));
  const signature = Buffer.from('89504e470d0a1a0a', 'hex');
  return Buffer.concat([signature, length, body, checksum, Buffer.alloc(64)]);
}
