import { symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { deflateSync, gzipSync } from 'node:zlib';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { InputError, type InputErrorCode } from '../errors.ts';
import { readScan } from './read-scan.ts';
import {
  chestPhantomHu,
  countMismatches,
  encodeMetaImage,
  encodeNrrd,
  makeTempDir,
  realDataDir,
  removeTempDir,
} from './test-helpers/fixtures.ts';

const SIZE: [number, number, number] = [16, 12, 6];
const VOXELS = SIZE[0] * SIZE[1] * SIZE[2];

let folder: string;

beforeEach(async () => {
  folder = await makeTempDir();
});

afterEach(async () => {
  await removeTempDir(folder);
});

async function write(name: string, bytes: Buffer): Promise<string> {
  const file = path.join(folder, name);
  await writeFile(file, bytes);
  return file;
}

async function expectInputError(file: string, code: InputErrorCode, maxVoxels?: number) {
  const error = await readScan(file, { maxVoxels }).catch((caught: unknown) => caught);
  expect(error).toBeInstanceOf(InputError);
  expect((error as InputError).code).toBe(code);
}

describe('readScan on NRRD and MetaImage', () => {
  it('reads the real NRRD scan', async () => {
    const { volume, format } = await readScan(path.join(realDataDir, 'cip-ct64/ct-64.nrrd'));
    expect(format).toBe('nrrd');
    expect(volume.size).toEqual([64, 64, 79]);
    expect(volume.spacingMm[0]).toBeCloseTo(4.171872, 6);
  });

  it('reads a scan through a symbolic link', async () => {
    const target = path.join(realDataDir, 'cip-ct64/ct-64.nrrd');
    const link = path.join(folder, 'linked.nrrd');
    await symlink(target, link);

    const linked = await readScan(link);
    const direct = await readScan(target);
    expect(linked.volume.size).toEqual(direct.volume.size);
    expect(countMismatches(linked.volume.data, direct.volume.data)).toBe(0);
  });

  it('reads a NRRD with spacing and origin', async () => {
    const file = await write(
      'phantom.nrrd',
      encodeNrrd(SIZE, 'short', chestPhantomHu(SIZE), {
        'space directions': '(0.5,0,0) (0,0.5,0) (0,0,2)',
        'space origin': '(-10,20,-30)',
      }),
    );
    const { volume } = await readScan(file);
    expect(volume.spacingMm).toEqual([0.5, 0.5, 2]);
    expect(volume.originMm).toEqual([-10, 20, -30]);
    expect(countMismatches(volume.data, chestPhantomHu(SIZE))).toBe(0);
  });

  it('reads a .nhdr with detached data', async () => {
    await write('phantom.raw', Buffer.from(chestPhantomHu(SIZE).buffer));
    const header = encodeNrrd(SIZE, 'short', new Int16Array(0), { 'data file': 'phantom.raw' });
    const file = await write('phantom.nhdr', header);
    const { volume, format } = await readScan(file);
    expect(format).toBe('nrrd');
    expect(countMismatches(volume.data, chestPhantomHu(SIZE))).toBe(0);
  });

  it('reads a .mha', async () => {
    const file = await write(
      'phantom.mha',
      encodeMetaImage(SIZE, 'MET_SHORT', chestPhantomHu(SIZE)),
    );
    const { volume, format } = await readScan(file);
    expect(format).toBe('metaimage');
    expect(countMismatches(volume.data, chestPhantomHu(SIZE))).toBe(0);
  });

  it('reads compressed NRRD and MetaImage', async () => {
    const data = chestPhantomHu(SIZE);
    const nrrdHeader = encodeNrrd(SIZE, 'short', new Int16Array(0), { encoding: 'gzip' });
    const nrrd = await write(
      'gzip.nrrd',
      Buffer.concat([nrrdHeader, gzipSync(Buffer.from(data.buffer))]),
    );
    const compressed = deflateSync(Buffer.from(data.buffer));
    const mhaHeader = encodeMetaImage(SIZE, 'MET_SHORT', new Int16Array(0), {
      CompressedData: 'True',
      CompressedDataSize: String(compressed.length),
    });
    const mha = await write('zlib.mha', Buffer.concat([mhaHeader, compressed]));
    for (const file of [nrrd, mha]) {
      const { volume } = await readScan(file);
      expect(countMismatches(volume.data, data)).toBe(0);
    }
  });

  it('reads a .mhd with a .raw file', async () => {
    await write('phantom.raw', Buffer.from(chestPhantomHu(SIZE).buffer));
    const header = encodeMetaImage(SIZE, 'MET_SHORT', new Int16Array(0)).toString('latin1');
    const file = await write('phantom.mhd', Buffer.from(header.replace('LOCAL', 'phantom.raw')));
    const { volume } = await readScan(file);
    expect(countMismatches(volume.data, chestPhantomHu(SIZE))).toBe(0);
  });
});

describe('readScan rejects bad NRRD and MetaImage', () => {
  it('BAD CALL - NRRD sizes above maxVoxels', async () => {
    const file = await write('large.nrrd', encodeNrrd(SIZE, 'short', chestPhantomHu(SIZE)));
    await expectInputError(file, 'INPUT_TOO_LARGE', VOXELS - 1);
  });

  it('BAD CALL - MetaImage DimSize above maxVoxels', async () => {
    const file = await write(
      'large.mha',
      encodeMetaImage(SIZE, 'MET_SHORT', chestPhantomHu(SIZE), { DimSize: '4000 4000 4000' }),
    );
    await expectInputError(file, 'INPUT_TOO_LARGE');
  });

  it('BAD CALL - NRRD pixel data cut short', async () => {
    const bytes = encodeNrrd(SIZE, 'short', chestPhantomHu(SIZE));
    const file = await write('short.nrrd', bytes.subarray(0, bytes.length - 10));
    await expectInputError(file, 'INPUT_CORRUPT');
  });

  it('BAD CALL - truncated gzip NRRD data', async () => {
    const header = encodeNrrd(SIZE, 'short', new Int16Array(0), { encoding: 'gzip' });
    const compressed = gzipSync(Buffer.from(chestPhantomHu(SIZE).buffer));
    const file = await write(
      'truncated.nrrd',
      Buffer.concat([header, compressed.subarray(0, compressed.length - 40)]),
    );
    await expectInputError(file, 'INPUT_CORRUPT');
  });

  it('BAD CALL - truncated zlib MetaImage data', async () => {
    // ITK-wasm returns wrong voxels for this file, or aborts the process for shorter ones.
    const compressed = deflateSync(Buffer.from(chestPhantomHu(SIZE).buffer));
    const header = encodeMetaImage(SIZE, 'MET_SHORT', new Int16Array(0), {
      CompressedData: 'True',
      CompressedDataSize: String(compressed.length - 40),
    });
    const file = await write(
      'truncated.mha',
      Buffer.concat([header, compressed.subarray(0, compressed.length - 40)]),
    );
    await expectInputError(file, 'INPUT_CORRUPT');
  });

  it('BAD CALL - MetaImage data file missing', async () => {
    const header = encodeMetaImage(SIZE, 'MET_SHORT', new Int16Array(0)).toString('latin1');
    const file = await write('missing.mhd', Buffer.from(header.replace('LOCAL', 'missing.raw')));
    await expectInputError(file, 'INPUT_CORRUPT');
  });

  it('BAD CALL - NRRD zero spacing', async () => {
    const file = await write(
      'zero.nrrd',
      encodeNrrd(SIZE, 'short', chestPhantomHu(SIZE), {
        'space directions': '(1,0,0) (0,1,0) (0,0,0)',
      }),
    );
    await expectInputError(file, 'INPUT_SPACING_INVALID');
  });

  it('BAD CALL - MetaImage spacing above 20 mm', async () => {
    const file = await write(
      'coarse.mha',
      encodeMetaImage(SIZE, 'MET_SHORT', chestPhantomHu(SIZE), { ElementSpacing: '1 1 30' }),
    );
    await expectInputError(file, 'INPUT_SPACING_INVALID');
  });

  it('BAD CALL - float image scaled to 0..1', async () => {
    const data = Float32Array.from(chestPhantomHu(SIZE), (value) => (value + 1024) / 4096);
    const file = await write('normalized.mha', encodeMetaImage(SIZE, 'MET_FLOAT', data));
    await expectInputError(file, 'INPUT_NOT_HU');
  });

  it('BAD CALL - float image scaled to -1..1', async () => {
    const data = Float32Array.from(chestPhantomHu(SIZE), (value) => value / 1024);
    const file = await write('signed-normalized.nrrd', encodeNrrd(SIZE, 'float', data));
    await expectInputError(file, 'INPUT_NOT_HU');
  });

  it('BAD CALL - unsigned storage without intercept', async () => {
    // The ramp gives the phantom the spread of values of a real scan, so it is not taken for
    // a label map.
    const data = Uint16Array.from(
      chestPhantomHu(SIZE),
      (value, index) => value + 1024 + (index % 41),
    );
    const file = await write('unsigned.nrrd', encodeNrrd(SIZE, 'ushort', data));
    await expectInputError(file, 'INPUT_NOT_HU');
    const error = (await readScan(file).catch((caught: unknown) => caught)) as InputError;
    expect(error.message).toContain('unsigned storage');
  });

  it('BAD CALL - label map instead of CT', async () => {
    const file = path.join(realDataDir, 'cip-ct64/lm-64.nrrd');
    await expectInputError(file, 'INPUT_NOT_HU');
    const error = (await readScan(file).catch((caught: unknown) => caught)) as InputError;
    expect(error.message).toContain('looks like a label map or mask');
    expect(error.message).toContain('not its segmentation');
  });

  it('BAD CALL - garbage after a NRRD magic line', async () => {
    const file = await write('garbage.nrrd', Buffer.from('NRRD0004\nsizes: a b\n\n'));
    await expectInputError(file, 'INPUT_CORRUPT');
  });

  it('BAD CALL - unknown extension', async () => {
    const file = await write('scan.png', Buffer.alloc(10));
    await expectInputError(file, 'INPUT_FORMAT_UNSUPPORTED');
  });

  it('BAD CALL - invalid options', async () => {
    const file = await write('phantom.nrrd', encodeNrrd(SIZE, 'short', chestPhantomHu(SIZE)));
    await expect(readScan(file, { maxVoxels: 0 })).rejects.toThrow(RangeError);
    await expect(readScan(file, { unevenSpacingTolerance: NaN })).rejects.toThrow(RangeError);
  });

  it('BAD CALL - missing path', async () => {
    await expectInputError(path.join(folder, 'absent.nii.gz'), 'INPUT_NOT_FOUND');
  });
});
