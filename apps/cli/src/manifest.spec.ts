import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { InputError } from '@dlco/preprocess';
import { afterAll, describe, expect, it } from 'vitest';

import { parseCsv, readManifest, scanIdFromPath } from './manifest.ts';

const workDir = mkdtempSync(join(tmpdir(), 'manifest-spec-'));
afterAll(() => rmSync(workDir, { recursive: true, force: true }));

function writeManifest(name: string, text: string): string {
  const path = join(workDir, name);
  writeFileSync(path, text);
  return path;
}

async function manifestErrorCode(path: string): Promise<string | undefined> {
  try {
    await readManifest(path);
    return undefined;
  } catch (error) {
    expect(error).toBeInstanceOf(InputError);
    return (error as InputError).code;
  }
}

describe('parseCsv', () => {
  it('splits quoted fields with commas and quotes', () => {
    expect(parseCsv('id,path\r\na,"x, ""y"".nrrd"\n')).toEqual([
      ['id', 'path'],
      ['a', 'x, "y".nrrd'],
    ]);
  });

  it('keeps a last line without newline', () => {
    expect(parseCsv('id,path\na,b')).toEqual([
      ['id', 'path'],
      ['a', 'b'],
    ]);
  });
});

describe('readManifest', () => {
  it('resolves relative paths against the manifest folder', async () => {
    const path = writeManifest(
      'relative.csv',
      'subject,id,path\ns1,scan-1,scans/a.nrrd\ns2,scan-2,/abs/b\n',
    );

    const jobs = await readManifest(path);

    expect(jobs).toEqual([
      { id: 'scan-1', path: join(workDir, 'scans/a.nrrd') },
      { id: 'scan-2', path: '/abs/b' },
    ]);
  });

  it('skips blank lines and accepts a byte order mark', async () => {
    const path = writeManifest('blank.csv', '\uFEFFID,Path\n\na,x.nrrd\n,\n');

    expect(await readManifest(path)).toHaveLength(1);
  });

  it('EXPECTED FAILURE - rejects a missing path column', async () => {
    const path = writeManifest('no-path.csv', 'id,file\na,x.nrrd\n');

    expect(await manifestErrorCode(path)).toBe('MANIFEST_INVALID');
  });

  it('EXPECTED FAILURE - rejects a repeated id', async () => {
    const path = writeManifest('repeat.csv', 'id,path\na,x.nrrd\na,y.nrrd\n');

    expect(await manifestErrorCode(path)).toBe('MANIFEST_INVALID');
  });

  it('EXPECTED FAILURE - rejects an id with a slash', async () => {
    const path = writeManifest('slash.csv', 'id,path\n../a,x.nrrd\n');

    expect(await manifestErrorCode(path)).toBe('MANIFEST_INVALID');
  });

  it('EXPECTED FAILURE - rejects an empty path', async () => {
    const path = writeManifest('empty-path.csv', 'id,path\na,\n');

    expect(await manifestErrorCode(path)).toBe('MANIFEST_INVALID');
  });
});

describe('scanIdFromPath', () => {
  it('drops the extensions of a file', () => {
    expect(scanIdFromPath('/data/ct-64.nrrd')).toBe('ct-64');
    expect(scanIdFromPath('/data/chest.nii.gz')).toBe('chest');
  });

  it('keeps a folder name and replaces unsafe characters', () => {
    expect(scanIdFromPath('/data/patient 1/')).toBe('patient_1');
  });
});
