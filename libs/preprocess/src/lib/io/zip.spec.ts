import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';

import { zipSync } from 'fflate';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { InputError, type InputErrorCode } from '../errors.ts';
import { readScan } from './read-scan.ts';
import { listEntries, makeTempDir, realDataDir, removeTempDir } from './test-helpers/fixtures.ts';
import { checkZipArchive, extractZip } from './zip.ts';

const SLICE = path.join(realDataDir, 'cip-ct64/dicom/IMG0001.dcm');
const LIMITS = { maxEntries: 100, maxBytes: 10_000_000 };

let work: string;
let extraction: string;

beforeEach(async () => {
  work = await makeTempDir();
  extraction = path.join(work, 'extraction');
  await mkdir(extraction);
});

afterEach(async () => {
  await removeTempDir(work);
});

async function writeZip(name: string, entries: Record<string, Uint8Array>): Promise<string> {
  const zipPath = path.join(work, name);
  await writeFile(zipPath, zipSync(entries, { level: 6 }));
  return zipPath;
}

async function expectZipError(promise: Promise<unknown>, code: InputErrorCode) {
  const error = await promise.catch((caught: unknown) => caught);
  expect(error).toBeInstanceOf(InputError);
  expect((error as InputError).code).toBe(code);
}

describe('extractZip', () => {
  it('extracts nested folders and keeps nested archives packed', async () => {
    const inner = zipSync({ 'a.dcm': new Uint8Array(10) });
    const zipPath = await writeZip('nested.zip', {
      'patient/series/IMG0001.dcm': await readFile(SLICE),
      'patient/inner.zip': inner,
    });
    await extractZip(zipPath, extraction, LIMITS);
    expect((await listEntries(extraction)).sort()).toEqual([
      'patient',
      'patient/inner.zip',
      'patient/series',
      'patient/series/IMG0001.dcm',
    ]);
  });

  it.each([
    ['parent segment', '../escape.dcm'],
    ['nested parent segment', 'scan/../../escape.dcm'],
    ['absolute path', '/tmp/escape.dcm'],
  ])('BAD CALL - entry with %s', async (_case, name) => {
    const zipPath = await writeZip('unsafe.zip', { [name]: new Uint8Array(10) });
    await expectZipError(extractZip(zipPath, extraction, LIMITS), 'ZIP_INVALID');
    expect(await listEntries(work)).not.toContain('escape.dcm');
  });

  it('BAD CALL - too many entries', async () => {
    const entries: Record<string, Uint8Array> = {};
    for (let index = 0; index < 5; index++) entries[`file${index}`] = new Uint8Array(1);
    const zipPath = await writeZip('many.zip', entries);
    const limits = { maxEntries: 4, maxBytes: LIMITS.maxBytes };
    await expectZipError(extractZip(zipPath, extraction, limits), 'INPUT_TOO_LARGE');
  });

  it('BAD CALL - inflated size above the cap', async () => {
    // 1 MB of zeros compresses to about 1 kB: the cap must count inflated bytes.
    const zipPath = await writeZip('bomb.zip', { 'zeros.bin': new Uint8Array(1_000_000) });
    const limits = { maxEntries: 10, maxBytes: 100_000 };
    await expectZipError(extractZip(zipPath, extraction, limits), 'INPUT_TOO_LARGE');
  });

  it.each([
    ['smaller', 1000],
    ['larger', 2_000_000],
  ])('BAD CALL - entry %s than its declared size', async (_case, declaredSize) => {
    // fflate writes the true size; both headers are patched to declare another one.
    const archive = Buffer.from(zipSync({ 'zeros.bin': new Uint8Array(1_000_000) }, { level: 6 }));
    archive.writeUInt32LE(declaredSize, 22);
    const directory = archive.readUInt32LE(archive.length - 22 + 16);
    archive.writeUInt32LE(declaredSize, directory + 24);
    const zipPath = path.join(work, 'lying.zip');
    await writeFile(zipPath, archive);
    await expectZipError(extractZip(zipPath, extraction, LIMITS), 'ZIP_INVALID');
  });

  it('checkZipArchive sums declared sizes without inflating', async () => {
    const zipPath = await writeZip('bomb.zip', { 'zeros.bin': new Uint8Array(1_000_000) });
    const summary = await checkZipArchive(zipPath, LIMITS);
    expect(summary.declaredBytes).toBe(1_000_000);
    const limits = { maxEntries: 10, maxBytes: 100_000 };
    await expectZipError(checkZipArchive(zipPath, limits), 'INPUT_TOO_LARGE');
  });

  it('checkZipArchive lists nested archives', async () => {
    const inner = zipSync({ 'a.dcm': new Uint8Array(10) });
    const zipPath = await writeZip('nested.zip', { 'series/inner.zip': inner });
    const summary = await checkZipArchive(zipPath, LIMITS);
    expect(summary.nestedArchives).toEqual(['series/inner.zip']);
  });

  it('BAD CALL - checkZipArchive on an entry with ..', async () => {
    const zipPath = await writeZip('unsafe.zip', { '../escape.dcm': new Uint8Array(10) });
    await expectZipError(checkZipArchive(zipPath, LIMITS), 'ZIP_INVALID');
  });

  it('BAD CALL - not a zip', async () => {
    const zipPath = path.join(work, 'fake.zip');
    await writeFile(zipPath, 'plain text');
    await expectZipError(extractZip(zipPath, extraction, LIMITS), 'ZIP_INVALID');
  });
});

describe('readScan on .zip', () => {
  it('BAD CALL - unsafe entry leaves no extraction folder', async () => {
    const zipPath = await writeZip('unsafe.zip', {
      'scan/IMG0001.dcm': await readFile(SLICE),
      '../escape.dcm': new Uint8Array(10),
    });
    await expectZipError(readScan(zipPath, { tempDirectory: extraction }), 'ZIP_INVALID');
    expect(await listEntries(extraction)).toEqual([]);
  });

  it('BAD CALL - archive above the maxVoxels byte cap', async () => {
    const zipPath = await writeZip('bomb.zip', { 'zeros.bin': new Uint8Array(1_000_000) });
    await expectZipError(
      readScan(zipPath, { tempDirectory: extraction, maxVoxels: 10_000 }),
      'INPUT_TOO_LARGE',
    );
    expect(await listEntries(extraction)).toEqual([]);
  });

  it('BAD CALL - archive without DICOM images', async () => {
    const zipPath = await writeZip('text.zip', { 'readme.txt': new TextEncoder().encode('hello') });
    await expectZipError(readScan(zipPath, { tempDirectory: extraction }), 'DICOM_NO_IMAGES');
    expect(await listEntries(extraction)).toEqual([]);
  });
});
