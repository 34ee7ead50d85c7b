import { readFile } from 'node:fs/promises';
import path from 'node:path';

import dicomParser from 'dicom-parser';
import { beforeAll, describe, expect, it } from 'vitest';

import { readDicomSlicePixels } from './read-dicom.ts';
import { countMismatches, realDataDir } from './test-helpers/fixtures.ts';

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
