import { copyFile, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';

import { zipSync } from 'fflate';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { InputError, type InputErrorCode } from '../errors.ts';
import { PADDING_HU, type Volume } from '../volume.ts';
import { readScan, type ReadScanOptions } from './read-scan.ts';
import {
  alterPixelData,
  getDicomString,
  setDicomString,
  truncatePixelData,
} from './test-helpers/dicom-edit.ts';
import {
  countMismatches,
  listEntries,
  makeTempDir,
  realDataDir,
  removeTempDir,
} from './test-helpers/fixtures.ts';

const CIP_DICOM = path.join(realDataDir, 'cip-ct64/dicom');
const CIP_NRRD = path.join(realDataDir, 'cip-ct64/ct-64.nrrd');
const TAG = {
  modality: 'x00080060',
  imageType: 'x00080008',
  sopClass: 'x00080016',
  seriesUid: 'x0020000e',
  position: 'x00200032',
  orientation: 'x00200037',
  transferSyntax: 'x00020010',
};

let work: string;
let series: string;
let extraction: string;

beforeEach(async () => {
  work = await makeTempDir();
  series = path.join(work, 'series');
  extraction = path.join(work, 'extraction');
  await mkdir(series);
  await mkdir(extraction);
  for (const name of await readdir(CIP_DICOM)) {
    await copyFile(path.join(CIP_DICOM, name), path.join(series, name));
  }
});

afterEach(async () => {
  await removeTempDir(work);
});

/** Cip-ct64 slices are IMG0001 (lowest z) to IMG0079, about 3.987 mm apart. */
const slice = (index: number) => path.join(series, `IMG${String(index).padStart(4, '0')}.dcm`);

async function editSlice(index: number, edit: (bytes: Buffer) => Buffer, target = slice(index)) {
  await writeFile(target, edit(await readFile(slice(index))));
}

function position(bytes: Buffer): number[] {
  return getDicomString(bytes, TAG.position)!.split('\\').map(Number);
}

function withPosition(bytes: Buffer, move: (xyz: number[]) => number[]): Buffer {
  const moved = move(position(bytes)).map((value) => value.toFixed(4));
  return setDicomString(bytes, TAG.position, moved.join('\\'));
}

async function expectInputError(scan: string, code: InputErrorCode, options: ReadScanOptions = {}) {
  const error = await readScan(scan, options).catch((caught: unknown) => caught);
  expect(error).toBeInstanceOf(InputError);
  expect((error as InputError).code).toBe(code);
  return error as InputError;
}

async function zipFolder(folder: string, zipPath: string): Promise<void> {
  const entries: Record<string, Uint8Array> = {};
  for (const name of await readdir(folder)) {
    entries[`scan/${name}`] = await readFile(path.join(folder, name));
  }
  await writeFile(zipPath, zipSync(entries, { level: 1 }));
}

function maxGeometryDifference(a: Volume, b: Volume): number {
  const pairs = [
    ...a.originMm.map((value, axis) => [value, b.originMm[axis]]),
    ...a.spacingMm.map((value, axis) => [value, b.spacingMm[axis]]),
    ...Array.from(a.direction, (value, index) => [value, b.direction[index]]),
  ];
  return Math.max(...pairs.map(([x, y]) => Math.abs(x - y)));
}

describe('readScan on real DICOM series', () => {
  it('matches the NRRD of the same scan', async () => {
    const nrrd = await readScan(CIP_NRRD);
    const dicom = await readScan(CIP_DICOM);
    expect(dicom.format).toBe('dicom');
    expect(dicom.volume.size).toEqual(nrrd.volume.size);
    expect(maxGeometryDifference(dicom.volume, nrrd.volume)).toBeLessThan(1e-3);
    expect(countMismatches(dicom.volume.data, nrrd.volume.data)).toBe(0);
    expect(dicom.dicom?.sliceCount).toBe(79);
    expect(dicom.dicom?.seriesCount).toBe(1);
    expect(dicom.dicom?.transferSyntaxUid).toBe('1.2.840.10008.1.2');
    expect(dicom.warnings).toEqual([]);
  });

  it('reads the series from a .zip', async () => {
    const zipPath = path.join(work, 'scan.zip');
    await zipFolder(CIP_DICOM, zipPath);
    const nrrd = await readScan(CIP_NRRD);
    const zipped = await readScan(zipPath, { tempDirectory: extraction });
    expect(zipped.format).toBe('dicom');
    expect(maxGeometryDifference(zipped.volume, nrrd.volume)).toBeLessThan(1e-3);
    expect(countMismatches(zipped.volume.data, nrrd.volume.data)).toBe(0);
    expect(await listEntries(extraction)).toEqual([]);
  });

  it('reads unsigned POPI slices as HU in place', async () => {
    const { volume } = await readScan(path.join(realDataDir, 'popi-4dct-phase00/dicom'));
    expect(volume.size).toEqual([512, 512, 141]);

    // 20-HU bins from -1500 to -500 HU: the peak is air around the body and in the lungs.
    const counts = new Uint32Array(50);
    for (const value of volume.data) {
      if (value >= -1500 && value < -500) counts[Math.floor((value + 1500) / 20)]++;
    }
    const peakBin = counts.indexOf(Math.max(...counts));
    const peakHu = -1500 + 20 * peakBin + 10;
    expect(Math.abs(peakHu + 1000)).toBeLessThanOrEqual(60);

    // The slices declare SpacingBetweenSlices -2.0; their positions run from z = -164.5 to
    // 115.5 mm, so the volume must go up along +z from the lowest slice.
    expect(volume.originMm).toEqual([-250, -164, -164.5]);
    expect(Array.from(volume.direction)).toEqual([1, 0, 0, 0, 1, 0, 0, 0, 1]);
    expect(volume.spacingMm[2]).toBeCloseTo(2, 6);
  });

  it('BAD CALL - two slices', async () => {
    await expectInputError(path.join(realDataDir, 'lungmask-two-slices'), 'INPUT_TOO_FEW_SLICES');
  });
});

describe('readScan on edited DICOM series', () => {
  it('drops an identical duplicate with a warning', async () => {
    await copyFile(slice(10), path.join(series, 'copy-of-10.dcm'));
    const { dicom, warnings } = await readScan(series);
    expect(dicom?.sliceCount).toBe(79);
    expect(warnings.join('\n')).toContain('copy-of-10.dcm');
  });

  it('excludes a localizer and a slice of other orientation', async () => {
    await editSlice(
      5,
      (bytes) => setDicomString(bytes, TAG.imageType, 'ORIGINAL\\PRIMARY\\LOCALIZER'),
      path.join(series, 'scout.dcm'),
    );
    await editSlice(
      6,
      (bytes) => setDicomString(bytes, TAG.orientation, '1\\0\\0\\0\\0\\-1'),
      path.join(series, 'coronal.dcm'),
    );
    const { dicom } = await readScan(series);
    expect(dicom?.sliceCount).toBe(79);
    const excluded = dicom?.excludedFiles.map((entry) => entry.file).sort();
    expect(excluded).toEqual(['coronal.dcm', 'scout.dcm']);
  });

  it('ignores stray files', async () => {
    await writeFile(path.join(series, '.DS_Store'), Buffer.alloc(100, 1));
    await writeFile(path.join(series, 'DICOMDIR'), 'not really a DICOMDIR');
    await writeFile(path.join(series, 'notes.txt'), 'scan notes');
    const { dicom } = await readScan(series);
    expect(dicom?.sliceCount).toBe(79);
    const excluded = dicom?.excludedFiles.map((entry) => entry.file).sort();
    expect(excluded).toEqual(['DICOMDIR', 'notes.txt']);
  });

  it('chooses the series with the most slices', async () => {
    const other = '1.2.826.0.1.3680043.2.1125.1.99';
    for (let index = 1; index <= 40; index++) {
      await editSlice(
        index,
        (bytes) => setDicomString(bytes, TAG.seriesUid, other),
        path.join(series, `other-${index}.dcm`),
      );
    }
    const { dicom, warnings } = await readScan(series);
    expect(dicom?.seriesCount).toBe(2);
    expect(dicom?.sliceCount).toBe(79);
    expect(dicom?.seriesInstanceUid).not.toBe(other);
    expect(warnings.join('\n')).toContain('2 CT series');
  });

  it('resamples spacing within tolerance', async () => {
    await editSlice(40, (bytes) => withPosition(bytes, ([x, y, z]) => [x, y, z + 0.2]));
    const { volume, warnings } = await readScan(series);
    expect(volume.size).toEqual([64, 64, 79]);
    expect(warnings.join('\n')).toContain('resampled');
    const nrrd = await readScan(CIP_NRRD);
    expect(volume.spacingMm[2]).toBeCloseTo(nrrd.volume.spacingMm[2], 3);
  });

  it('BAD CALL - modality MR', async () => {
    for (let index = 1; index <= 79; index++) {
      await editSlice(index, (bytes) => setDicomString(bytes, TAG.modality, 'MR'));
    }
    await expectInputError(series, 'DICOM_NOT_CT');
  });

  it('BAD CALL - missing slice names its position', async () => {
    await rm(slice(40));
    const error = await expectInputError(series, 'DICOM_MISSING_SLICES');
    const below = position(await readFile(slice(39)))[2];
    expect(error.message).toContain(`z = ${below.toFixed(2)} mm`);
  });

  it('BAD CALL - duplicate position with other pixels', async () => {
    await editSlice(10, alterPixelData, path.join(series, 'conflict.dcm'));
    await expectInputError(series, 'DICOM_DUPLICATE_POSITION');
  });

  it('BAD CALL - uneven spacing beyond tolerance', async () => {
    await editSlice(40, (bytes) => withPosition(bytes, ([x, y, z]) => [x, y, z + 1.2]));
    await expectInputError(series, 'DICOM_UNEVEN_SPACING');
  });

  it('BAD CALL - gantry tilt names the angle', async () => {
    const tan = Math.tan((10 * Math.PI) / 180);
    for (let index = 1; index <= 79; index++) {
      await editSlice(index, (bytes) =>
        withPosition(bytes, ([x, y, z]) => [x, y + (z + 360.256) * tan, z]),
      );
    }
    const error = await expectInputError(series, 'DICOM_GANTRY_TILT');
    expect(error.message).toMatch(/10\.0\d°/);
  });

  it('BAD CALL - enhanced multi-frame CT', async () => {
    for (let index = 1; index <= 79; index++) {
      await editSlice(index, (bytes) =>
        setDicomString(bytes, TAG.sopClass, '1.2.840.10008.5.1.4.1.1.2.1'),
      );
    }
    await expectInputError(series, 'DICOM_MULTIFRAME');
  });

  it('BAD CALL - undecodable transfer syntax', async () => {
    // Explicit VR slices, as real HTJ2K files are; the reader must reject them from the header.
    const source = await readFile(path.join(realDataDir, 'wg04-ct1-encodings/CT1_UNC.dcm'));
    const htj2k = path.join(work, 'htj2k');
    await mkdir(htj2k);
    for (let index = 0; index < 3; index++) {
      let bytes = setDicomString(source, TAG.transferSyntax, '1.2.840.10008.1.2.4.201');
      bytes = withPosition(bytes, ([x, y, z]) => [x, y, z + 5 * index]);
      await writeFile(path.join(htj2k, `slice${index}.dcm`), bytes);
    }
    const error = await expectInputError(htj2k, 'DICOM_TRANSFER_SYNTAX_UNSUPPORTED');
    expect(error.message).toContain('1.2.840.10008.1.2.4.201');
    expect(error.message).toContain('High-Throughput JPEG 2000');
  });

  it('BAD CALL - slice cut inside its pixel data', async () => {
    await editSlice(20, truncatePixelData);
    await expectInputError(series, 'INPUT_CORRUPT');
  });

  it('BAD CALL - series above maxVoxels', async () => {
    await expectInputError(series, 'INPUT_TOO_LARGE', { maxVoxels: 64 * 64 * 78 });
  });

  it('BAD CALL - zipped bad series leaves no files', async () => {
    await rm(slice(40));
    const zipPath = path.join(work, 'gap.zip');
    await zipFolder(series, zipPath);
    await expectInputError(zipPath, 'DICOM_MISSING_SLICES', { tempDirectory: extraction });
    expect(await listEntries(extraction)).toEqual([]);
  });
});
