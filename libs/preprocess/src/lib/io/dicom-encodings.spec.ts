import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';

import dicomParser from 'dicom-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { InputError } from '../errors.ts';
import { toHuInt16 } from './hu.ts';
import { readDicomSlicePixels } from './read-dicom.ts';
import { readScan } from './read-scan.ts';
import { getDicomString, setDicomString } from './test-helpers/dicom-edit.ts';
import {
  countMismatches,
  makeTempDir,
  realDataDir,
  removeTempDir,
} from './test-helpers/fixtures.ts';

const ENCODINGS = path.join(realDataDir, 'wg04-ct1-encodings');

/** Lossless encodings of the same slice, by file name and transfer syntax. */
const LOSSLESS = [
  ['CT1_JPLL.dcm', 'JPEG Lossless SV1'],
  ['CT1_JLSL.dcm', 'JPEG-LS Lossless'],
  ['CT1_J2KR.dcm', 'JPEG 2000 Lossless'],
  ['CT1_RLE.dcm', 'RLE Lossless'],
];

/** Stored values of the uncompressed slice plus its RescaleIntercept, parsed without ITK. */
async function uncompressedHu(): Promise<Float64Array> {
  const bytes = await readFile(path.join(ENCODINGS, 'CT1_UNC.dcm'));
  const dataSet = dicomParser.parseDicom(
    new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength),
  );
  const slope = Number(dataSet.string('x00281053') ?? 1);
  const intercept = Number(dataSet.string('x00281052') ?? 0);
  expect(dataSet.uint16('x00280103')).toBe(1);
  const element = dataSet.elements.x7fe00010;
  const stored = new Int16Array(
    bytes.buffer.slice(
      bytes.byteOffset + element.dataOffset,
      bytes.byteOffset + element.dataOffset + element.length,
    ),
  );
  return Float64Array.from(stored, (value) => value * slope + intercept);
}

describe('readDicomSlicePixels', () => {
  let expected: Float64Array;

  beforeAll(async () => {
    expected = await uncompressedHu();
  });

  it('applies the rescale exactly once', async () => {
    const { size, data } = await readDicomSlicePixels(path.join(ENCODINGS, 'CT1_UNC.dcm'));
    expect(size).toEqual([512, 512]);
    expect(countMismatches(data, expected)).toBe(0);
  });

  it.each(LOSSLESS)('decodes %s (%s) exactly', async (name) => {
    const { data } = await readDicomSlicePixels(path.join(ENCODINGS, name));
    expect(countMismatches(data, expected)).toBe(0);
  });

  it.each([['CT1_J2KI.dcm'], ['CT1_JLSN.dcm']])(
    'decodes lossy %s close to the original',
    async (name) => {
      const { data } = await readDicomSlicePixels(path.join(ENCODINGS, name));
      let sumOfSquares = 0;
      for (let index = 0; index < data.length; index++)
        sumOfSquares += (data[index] - expected[index]) ** 2;
      expect(Math.sqrt(sumOfSquares / data.length)).toBeLessThan(50);
    },
  );
});

describe('readScan on compressed series', () => {
  let work: string;

  beforeAll(async () => {
    work = await makeTempDir();
  });

  afterAll(async () => {
    await removeTempDir(work);
  });

  /** Writes three copies of one encoded slice, 5 mm apart, as a series folder. */
  async function writeSeries(name: string): Promise<string> {
    const source = await readFile(path.join(ENCODINGS, name));
    const [x, y, z] = getDicomString(source, 'x00200032')!.split('\\').map(Number);
    const folder = path.join(work, name);
    await mkdir(folder);
    for (let index = 0; index < 3; index++) {
      const moved = setDicomString(source, 'x00200032', `${x}\\${y}\\${z + 5 * index}`);
      await writeFile(path.join(folder, `slice${index}.dcm`), moved);
    }
    return folder;
  }

  it.each([['CT1_JPLL.dcm'], ['CT1_J2KR.dcm']])('reads a %s series', async (name) => {
    const { volume, dicom } = await readScan(await writeSeries(name));
    expect(volume.size).toEqual([512, 512, 3]);
    expect(volume.spacingMm[2]).toBeCloseTo(5, 6);
    expect(dicom?.sliceCount).toBe(3);
    const expectedHu = toHuInt16(await uncompressedHu());
    expect(countMismatches(volume.data.subarray(0, 512 * 512), expectedHu)).toBe(0);
  });

  it('BAD CALL - truncated compressed slice', async () => {
    const folder = await writeSeries('CT1_RLE.dcm');
    const bytes = await readFile(path.join(folder, 'slice1.dcm'));
    await writeFile(path.join(folder, 'slice1.dcm'), bytes.subarray(0, bytes.length - 5000));
    const error = await readScan(folder).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(InputError);
    expect((error as InputError).code).toBe('INPUT_CORRUPT');
  });
});
