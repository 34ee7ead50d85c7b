import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import {
  checkOutputFile,
  checkOutputFolder,
  checkWritableFolder,
  describeWriteError,
  isOutputPathError,
  OutputPathError,
} from './output-path.ts';

const workDir = mkdtempSync(join(tmpdir(), 'dlco-output-path-'));
afterAll(() => rmSync(workDir, { recursive: true, force: true }));

const aFile = join(workDir, 'a-file');
writeFileSync(aFile, 'x');

async function rejection(run: () => Promise<unknown>): Promise<OutputPathError> {
  const error = await run().then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(isOutputPathError(error), String(error)).toBe(true);
  return error as OutputPathError;
}

describe('checkOutputFolder', () => {
  it('accepts a missing folder and creates nothing', async () => {
    const target = join(workDir, 'new', 'deeper', 'out');

    await checkOutputFolder(target, '--out');

    expect(readdirSync(workDir)).toEqual(['a-file']);
  });

  it('BAD CALL - output folder is a file', async () => {
    const error = await rejection(() => checkOutputFolder(aFile, '--out'));

    expect(error.code).toBe('OUTPUT_PATH_INVALID');
    expect(error.message).toContain(`--out '${aFile}'`);
    expect(error.message).toContain('is a file, not a folder');
  });

  it('BAD CALL - folder under a file', async () => {
    const target = join(aFile, 'sub', 'out');

    const error = await rejection(() => checkOutputFolder(target, '--out'));

    expect(error.message).toContain(`--out '${target}'`);
    expect(error.message).toContain(`${aFile} is a file, not a folder`);
    expect(error.message).not.toContain('ENOTDIR:');
  });

  it.runIf(process.platform === 'linux')('BAD CALL - folder in /proc', async () => {
    const error = await rejection(() => checkOutputFolder('/proc/dlco-out', '--out'));

    expect(error.message).toContain('the folder /proc does not accept new files');
  });

  it.runIf(process.getuid?.() !== 0)('BAD CALL - read-only parent folder', async () => {
    // Root may write into a folder with mode 555, so this runs only for other users.
    const readOnly = join(workDir, 'read-only');
    mkdirSync(readOnly);
    chmodSync(readOnly, 0o555);
    try {
      const error = await rejection(() => checkOutputFolder(join(readOnly, 'out'), '--out'));
      expect(error.message).toContain('EACCES');
    } finally {
      chmodSync(readOnly, 0o755);
      rmSync(readOnly, { recursive: true });
    }
  });
});

describe('checkWritableFolder', () => {
  it('accepts an existing folder', async () => {
    await checkWritableFolder(workDir, '--out');
  });

  it('BAD CALL - folder under a file', async () => {
    const error = await rejection(() => checkWritableFolder(join(aFile, 'out'), '--out'));

    expect(error.message).toContain(`${aFile} is a file, not a folder`);
  });

  it.runIf(process.platform === 'linux')('BAD CALL - folder inside /proc', async () => {
    const error = await rejection(() => checkWritableFolder('/proc/dlco-batch', '--out'));

    expect(error.message).toContain('the folder /proc does not accept new files');
  });
});

describe('checkOutputFile', () => {
  it('accepts a new file in an existing folder', async () => {
    await checkOutputFile(join(workDir, 'mask.nii.gz'), '--mask-out');
  });

  it('BAD CALL - file in a missing folder', async () => {
    const folder = join(workDir, 'missing');

    const error = await rejection(() =>
      checkOutputFile(join(folder, 'mask.nii.gz'), '--mask-out'),
    );

    expect(error.message).toContain(`the folder ${folder} does not exist`);
    expect(error.message).toContain(`mkdir -p ${folder}`);
  });

  it('BAD CALL - file under a file', async () => {
    const error = await rejection(() =>
      checkOutputFile(join(aFile, 'mask.nii.gz'), '--mask-out'),
    );

    expect(error.message).toContain(`${aFile} is a file, not a folder`);
  });

  it('BAD CALL - file is a folder', async () => {
    const error = await rejection(() => checkOutputFile(workDir, '--mask-out'));

    expect(error.message).toContain('it is a folder');
  });
});

describe('describeWriteError', () => {
  it('explains a read-only file system', () => {
    const raw = Object.assign(new Error('EROFS: read-only file system, mkdir'), { code: 'EROFS' });

    const error = describeWriteError(raw, '/mnt/out', '--out');

    expect(isOutputPathError(error)).toBe(true);
    expect((error as Error).message).toBe(
      "cannot write --out '/mnt/out': the file system is read-only (EROFS). " +
        'Choose a --out path in a folder you can write to.',
    );
  });

  it('reads the code of a wrapped error', () => {
    const cause = Object.assign(new Error('EACCES'), { code: 'EACCES' });

    const error = describeWriteError(new Error('Writing failed', { cause }), '/x.nrrd', '--mask-out');

    expect((error as Error).message).toContain('permission denied (EACCES)');
  });

  it('returns other errors unchanged', () => {
    const other = new Error('schema mismatch');

    expect(describeWriteError(other, '/out', '--out')).toBe(other);
  });
});
