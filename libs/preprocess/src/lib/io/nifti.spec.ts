import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { gzipSync } from 'node:zlib';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { InputError, type InputErrorCode } from '../errors.ts';
import { PADDING_HU } from '../volume.ts';
import { readScan } from './read-scan.ts';
import {
  chestPhantomHu,
  countMismatches,
  listEntries,
  makeTempDir,
  realDataDir,
  removeTempDir,
} from './test-helpers/fixtures.ts';
import { encodeNifti1, encodeNifti2, type NiftiFixture } from './test-helpers/nifti-writer.ts';

const SIZE: [number, number, number] = [16, 12, 6];

/**
 * Voxel axes of the test affine, in RAS: i points superior (2 mm), j points left (-R, 3 mm)
 * and k points anterior (4 mm). In LPS that is i → +S, j → +L, k → -P.
 */
const PERMUTED_SROW: [number[], number[], number[]] = [
  [0, -3, 0, 10],
  [0, 0, 4, 20],
  [2, 0, 0, 30],
];
const EXPECTED_DIRECTION = [0, 1, 0, 0, 0, -1, 1, 0, 0];
const EXPECTED_ORIGIN_MM = [-10, -20, 30];

/** The same rotation as a qform: qfac -1 flips k, and the quaternion is (0.5, -0.5, 0.5). */
const PERMUTED_QFORM: Partial<NiftiFixture> = {
  qformCode: 1,
  quaternion: [0.5, -0.5, 0.5],
  qfac: -1,
  qoffsetMm: [10, 20, 30],
};

let folder: string;

beforeEach(async () => {
  folder = await makeTempDir();
});

afterEach(async () => {
  await removeTempDir(folder);
});

async function writeNifti(name: string, fixture: Partial<NiftiFixture>, gzip = false) {
  const file = path.join(folder, name);
  const data = fixture.data ?? chestPhantomHu(SIZE);
  const complete: NiftiFixture = {
    dims: [...SIZE],
    datatype: 4,
    pixdimMm: [2, 3, 4],
    ...fixture,
    data,
  };
  await writeFile(file, encodeNifti1(complete, gzip));
  return file;
}

async function expectInputError(file: string, code: InputErrorCode, maxVoxels?: number) {
  const error = await readScan(file, { maxVoxels }).catch((caught: unknown) => caught);
  expect(error).toBeInstanceOf(InputError);
  expect((error as InputError).code).toBe(code);
  expect((error as InputError).message).toContain(path.basename(file));
}

describe('readScan on NIfTI', () => {
  it('maps a permuted, flipped sform to LPS', async () => {
    const file = await writeNifti('sform.nii', { sformCode: 1, srow: PERMUTED_SROW });
    const { volume, format } = await readScan(file);
    expect(format).toBe('nifti');
    expect(volume.size).toEqual(SIZE);
    expect(volume.spacingMm).toEqual([2, 3, 4]);
    expect(Array.from(volume.direction)).toEqual(EXPECTED_DIRECTION);
    expect(volume.originMm).toEqual(EXPECTED_ORIGIN_MM);
  });

  it('maps the same affine given as qform', async () => {
    const file = await writeNifti('qform.nii', PERMUTED_QFORM);
    const { volume } = await readScan(file);
    for (let index = 0; index < 9; index++) {
      expect(volume.direction[index]).toBeCloseTo(EXPECTED_DIRECTION[index], 6);
    }
    expect(volume.originMm).toEqual(EXPECTED_ORIGIN_MM);
  });

  it('accepts agreeing qform and sform', async () => {
    const file = await writeNifti(
      'both.nii.gz',
      {
        ...PERMUTED_QFORM,
        sformCode: 1,
        srow: PERMUTED_SROW,
      },
      true,
    );
    const { volume } = await readScan(file);
    expect(volume.originMm).toEqual(EXPECTED_ORIGIN_MM);
  });

  it('applies scl_inter once to unsigned data', async () => {
    const stored = Uint16Array.from(chestPhantomHu(SIZE), (value) => value + 1024);
    const file = await writeNifti('unsigned.nii', {
      datatype: 512,
      data: stored,
      sformCode: 1,
      sclInter: -1024,
    });
    const { volume } = await readScan(file);
    expect(countMismatches(volume.data, chestPhantomHu(SIZE))).toBe(0);
  });

  it('maps stored padding to PADDING_HU', async () => {
    const data = chestPhantomHu(SIZE);
    data.fill(-3024, 0, SIZE[0]);
    data.fill(-2000, SIZE[0], 2 * SIZE[0]);
    const file = await writeNifti('padding.nii', { data, sformCode: 1 });
    const { volume } = await readScan(file);
    expect(volume.data.subarray(0, 2 * SIZE[0]).every((value) => value === PADDING_HU)).toBe(true);
    expect(volume.data[2 * SIZE[0]]).toBe(-1000);
  });

  it('squeezes a single time point', async () => {
    const file = await writeNifti('one-time-point.nii', { dims: [...SIZE, 1], sformCode: 1 });
    const { volume } = await readScan(file);
    expect(volume.size).toEqual(SIZE);
  });

  it('reports NIfTI-2 that ITK cannot read as unsupported', async () => {
    const file = path.join(folder, 'nifti2.nii');
    await writeFile(file, encodeNifti2([...SIZE], chestPhantomHu(SIZE), [2, 3, 4], PERMUTED_SROW));
    await expectInputError(file, 'INPUT_FORMAT_UNSUPPORTED');
  });

  it('reads the real cropped thorax', async () => {
    const { volume, format } = await readScan(path.join(realDataDir, 'ts-thorax-crop/ct.nii.gz'));
    expect(format).toBe('nifti');
    expect(volume.size).toEqual([120, 126, 164]);
    expect(volume.spacingMm).toEqual([1.5, 1.5, 1.5]);
  });
});

describe('readScan rejects bad NIfTI', () => {
  it('BAD CALL - qform and sform disagree', async () => {
    const shifted = PERMUTED_SROW.map((row) => [...row]) as typeof PERMUTED_SROW;
    shifted[0][3] += 1;
    const file = await writeNifti('mismatch.nii', {
      ...PERMUTED_QFORM,
      sformCode: 1,
      srow: shifted,
    });
    await expectInputError(file, 'NIFTI_QFORM_SFORM_MISMATCH');
  });

  it('BAD CALL - sheared sform', async () => {
    const sheared: [number[], number[], number[]] = [
      [2, 0.5, 0, 0],
      [0, 3, 0, 0],
      [0, 0, 4, 0],
    ];
    const file = await writeNifti('sheared.nii', { sformCode: 1, srow: sheared });
    await expectInputError(file, 'NIFTI_SHEARED');
  });

  it('BAD CALL - sheared NIfTI-2 sform', async () => {
    const file = path.join(folder, 'sheared2.nii');
    const sheared: [number[], number[], number[]] = [
      [2, 0, 0, 0],
      [0, 3, 0.5, 0],
      [0, 0, 4, 0],
    ];
    await writeFile(file, encodeNifti2([...SIZE], chestPhantomHu(SIZE), [2, 3, 4], sheared));
    await expectInputError(file, 'NIFTI_SHEARED');
  });

  it('BAD CALL - NIfTI-2 above maxVoxels', async () => {
    const file = path.join(folder, 'large2.nii');
    await writeFile(file, encodeNifti2([...SIZE], chestPhantomHu(SIZE), [2, 3, 4], PERMUTED_SROW));
    await expectInputError(file, 'INPUT_TOO_LARGE', 100);
  });

  it('BAD CALL - several time points', async () => {
    const data = new Int16Array(SIZE[0] * SIZE[1] * SIZE[2] * 2).fill(-1000);
    const file = await writeNifti('two-time-points.nii', {
      dims: [...SIZE, 2],
      data,
      sformCode: 1,
    });
    await expectInputError(file, 'INPUT_NOT_3D');
  });

  it('BAD CALL - two slices', async () => {
    const data = chestPhantomHu([SIZE[0], SIZE[1], 2]);
    const file = await writeNifti('two-slices.nii', { dims: [SIZE[0], SIZE[1], 2], data });
    await expectInputError(file, 'INPUT_TOO_FEW_SLICES');
  });

  it.each([
    ['zero', 0],
    ['negative', -1],
    ['NaN', NaN],
    ['too large', 25],
  ])('BAD CALL - %s spacing', async (name, spacing) => {
    const file = await writeNifti(`spacing-${name}.nii`, { pixdimMm: [1, 1, spacing] });
    await expectInputError(file, 'INPUT_SPACING_INVALID');
  });

  it('BAD CALL - declared size above maxVoxels', async () => {
    const file = await writeNifti('large.nii', { sformCode: 1 });
    await expectInputError(file, 'INPUT_TOO_LARGE', SIZE[0] * SIZE[1] * SIZE[2] - 1);
  });

  it('BAD CALL - huge dims rejected from header only', async () => {
    // The file contains 16 × 12 × 6 voxels but declares 30000³: the header check must fire first.
    const file = await writeNifti(
      'huge.nii.gz',
      { dims: [30000, 30000, 30000], sformCode: 1 },
      true,
    );
    await expectInputError(file, 'INPUT_TOO_LARGE');
  });

  it('BAD CALL - normalized float intensities', async () => {
    const data = Float32Array.from(chestPhantomHu(SIZE), (value) => (value + 1024) / 4096);
    const file = await writeNifti('normalized.nii', { datatype: 16, data, sformCode: 1 });
    await expectInputError(file, 'INPUT_NOT_HU');
  });

  it('BAD CALL - unsigned storage without intercept', async () => {
    // The ramp gives the phantom the spread of values of a real scan, so it is not taken for
    // a label map.
    const data = Uint16Array.from(
      chestPhantomHu(SIZE),
      (value, index) => value + 1024 + (index % 41),
    );
    const file = await writeNifti('no-intercept.nii', { datatype: 512, data, sformCode: 1 });
    await expectInputError(file, 'INPUT_NOT_HU');
    const error = (await readScan(file).catch((caught: unknown) => caught)) as InputError;
    expect(error.message).toContain('unsigned storage');
  });

  it('BAD CALL - no air in the image', async () => {
    const data = new Int16Array(SIZE[0] * SIZE[1] * SIZE[2]).fill(40);
    const file = await writeNifti('no-air.nii', { data, sformCode: 1 });
    await expectInputError(file, 'INPUT_NOT_HU');
  });

  it('BAD CALL - pixel data cut short', async () => {
    const file = await writeNifti('short.nii', { sformCode: 1 });
    const bytes = encodeNifti1({ dims: [...SIZE], datatype: 4, data: chestPhantomHu(SIZE) });
    await writeFile(file, bytes.subarray(0, bytes.length - 100));
    await expectInputError(file, 'INPUT_CORRUPT');
  });

  it('BAD CALL - truncated gzip', async () => {
    const bytes = encodeNifti1({ dims: [...SIZE], datatype: 4, data: chestPhantomHu(SIZE) }, true);
    const file = path.join(folder, 'truncated.nii.gz');
    await writeFile(file, bytes.subarray(0, bytes.length - 40));
    await expectInputError(file, 'INPUT_CORRUPT');
  });

  it('BAD CALL - truncated gzip keeps the gzip reason', async () => {
    const bytes = encodeNifti1({ dims: [...SIZE], datatype: 4, data: chestPhantomHu(SIZE) }, true);
    const file = path.join(folder, 'truncated-reason.nii.gz');
    await writeFile(file, bytes.subarray(0, bytes.length - 40));
    const error = await readScan(file).catch((caught: unknown) => caught);
    expect((error as InputError).code).toBe('INPUT_CORRUPT');
    expect((error as InputError).message).toContain('gzip stream is damaged or truncated');
  });

  it('BAD CALL - gzip with a wrong CRC-32', async () => {
    const bytes = encodeNifti1({ dims: [...SIZE], datatype: 4, data: chestPhantomHu(SIZE) }, true);
    bytes[bytes.length - 8] ^= 0xff;
    const file = path.join(folder, 'bad-crc.nii.gz');
    await writeFile(file, bytes);
    await expectInputError(file, 'INPUT_CORRUPT');
  });

  it('BAD CALL - gzip with damaged deflate data', async () => {
    const bytes = encodeNifti1({ dims: [...SIZE], datatype: 4, data: chestPhantomHu(SIZE) }, true);
    for (let index = 40; index < bytes.length - 40; index += 97) bytes[index] ^= 0x5a;
    const file = path.join(folder, 'damaged.nii.gz');
    await writeFile(file, bytes);
    await expectInputError(file, 'INPUT_CORRUPT');
  });

  it('BAD CALL - gzip of data cut short', async () => {
    const bytes = encodeNifti1({ dims: [...SIZE], datatype: 4, data: chestPhantomHu(SIZE) });
    const file = path.join(folder, 'short-inside.nii.gz');
    await writeFile(file, gzipSync(bytes.subarray(0, bytes.length - 100)));
    await expectInputError(file, 'INPUT_CORRUPT');
  });

  it('reads gzip with data after the image', async () => {
    const bytes = encodeNifti1({ dims: [...SIZE], datatype: 4, data: chestPhantomHu(SIZE) });
    const file = path.join(folder, 'trailing.nii.gz');
    await writeFile(file, gzipSync(Buffer.concat([bytes, Buffer.alloc(64, 1)])));
    const { volume } = await readScan(file);
    expect(countMismatches(volume.data, chestPhantomHu(SIZE))).toBe(0);
  });

  it('reads a two-member gzip', async () => {
    const bytes = encodeNifti1({ dims: [...SIZE], datatype: 4, data: chestPhantomHu(SIZE) });
    const file = path.join(folder, 'two-members.nii.gz');
    await writeFile(
      file,
      Buffer.concat([gzipSync(bytes.subarray(0, 1000)), gzipSync(bytes.subarray(1000))]),
    );
    const { volume } = await readScan(file);
    expect(countMismatches(volume.data, chestPhantomHu(SIZE))).toBe(0);
  });

  it('BAD CALL - garbage bytes', async () => {
    const file = path.join(folder, 'garbage.nii');
    await writeFile(file, Buffer.alloc(2000, 7));
    await expectInputError(file, 'INPUT_CORRUPT');
  });

  it('leaves no file behind after failures', async () => {
    const file = await writeNifti('sheared-again.nii', {
      sformCode: 1,
      srow: [
        [2, 0.5, 0, 0],
        [0, 3, 0, 0],
        [0, 0, 4, 0],
      ],
    });
    await expectInputError(file, 'NIFTI_SHEARED');
    expect(await listEntries(folder)).toEqual(['sheared-again.nii']);
  });
});
