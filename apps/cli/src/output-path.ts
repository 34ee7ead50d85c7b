import { mkdtemp, rmdir, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/**
 * An output path that is invalid or cannot be written, found before the computation starts or
 * when the write fails. The CLI prints `error [OUTPUT_PATH_INVALID]` and exits with the
 * input-error status.
 */
export class OutputPathError extends Error {
  readonly code = 'OUTPUT_PATH_INVALID';
  readonly path: string;

  constructor(path: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'OutputPathError';
    this.path = path;
  }
}

export function isOutputPathError(error: unknown): error is OutputPathError {
  return error instanceof OutputPathError;
}

/** File system error codes that mean the output location, not the program, is at fault. */
const PATH_ERROR_REASONS: Record<string, string> = {
  ENOTDIR: 'a part of the path is a file, not a folder',
  EISDIR: 'it is a folder',
  EROFS: 'the file system is read-only',
  EACCES: 'permission denied',
  EPERM: 'the operation is not permitted there',
  ENOENT: 'the folder does not exist or cannot hold new entries',
  ENOSPC: 'the disk is full',
  EDQUOT: 'the disk quota is exhausted',
  ENAMETOOLONG: 'the path is too long',
};

/**
 * Checks that `outDir` can become an output folder, before any computation: it must be a folder
 * or missing, and its nearest existing ancestor must be a folder that accepts new entries.
 * Missing folders are not created here, so a later failure leaves nothing behind.
 *
 * @param flag - option that named the path, for the message, e.g. `--out`
 * @throws OutputPathError naming the path, the reason and the fix
 */
export async function checkOutputFolder(outDir: string, flag: string): Promise<void> {
  const kind = await pathKind(outDir);
  if (kind === 'file') {
    throw new OutputPathError(
      outDir,
      `invalid ${flag} '${outDir}': it is a file, not a folder. Pass a new or empty folder.`,
    );
  }
  // The result is staged next to the folder and renamed into place, so the parent must accept
  // new entries even when the folder itself exists.
  await checkWritableAncestor(dirname(outDir), outDir, flag);
}

/**
 * Checks that `folder` can receive new files before any computation: it must be a folder or
 * missing, and it or its nearest existing ancestor must accept new entries. Unlike
 * `checkOutputFolder`, the folder itself is written into, as `dlco batch` does on a rerun.
 *
 * @throws OutputPathError naming the path, the reason and the fix
 */
export async function checkWritableFolder(folder: string, flag: string): Promise<void> {
  if ((await pathKind(folder)) === 'file') {
    throw new OutputPathError(
      folder,
      `invalid ${flag} '${folder}': it is a file, not a folder. Pass a folder.`,
    );
  }
  await checkWritableAncestor(folder, folder, flag);
}

/**
 * Checks that `file` can be written before any computation: it must not be a folder, and its
 * folder must exist and accept new files.
 *
 * @throws OutputPathError naming the path, the reason and the fix
 */
export async function checkOutputFile(file: string, flag: string): Promise<void> {
  if ((await pathKind(file)) === 'folder') {
    throw new OutputPathError(
      file,
      `invalid ${flag} '${file}': it is a folder. Pass a file name inside it.`,
    );
  }
  const folder = dirname(file);
  const existing = await nearestExisting(folder);
  if (existing.kind === 'folder' && existing.path !== folder) {
    throw new OutputPathError(
      file,
      `invalid ${flag} '${file}': the folder ${folder} does not exist. Create it first ` +
        `(mkdir -p ${folder}) or choose a file in an existing folder.`,
    );
  }
  await checkWritableAncestor(folder, file, flag);
}

/**
 * Converts a file system error from writing `path` into an `OutputPathError` with the reason
 * and the fix, and returns any other error unchanged.
 */
export function describeWriteError(error: unknown, path: string, flag: string): unknown {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const cause = (error as { cause?: NodeJS.ErrnoException } | undefined)?.cause?.code;
  const reason = PATH_ERROR_REASONS[code ?? ''] ?? PATH_ERROR_REASONS[cause ?? ''];
  if (reason === undefined) return error;
  return new OutputPathError(
    path,
    `cannot write ${flag} '${path}': ${reason} (${code ?? cause}). ${fixFor(flag)}`,
    { cause: error },
  );
}

/** Walks up from `folder` to the first existing path and checks it is a writable folder. */
async function checkWritableAncestor(folder: string, target: string, flag: string): Promise<void> {
  const { path: current, kind } = await nearestExisting(folder);
  if (kind === 'file') {
    throw new OutputPathError(
      target,
      `invalid ${flag} '${target}': ${current} is a file, not a folder. ${fixFor(flag)}`,
    );
  }
  // Creating and removing an empty folder catches read-only mounts, missing permissions and
  // pseudo file systems alike. fs.access(W_OK) is not enough: it passes for root on /proc and
  // /sys, where creating an entry fails.
  let probe: string;
  try {
    probe = await mkdtemp(join(current, '.dlco-write-check-'));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'unknown error';
    const reason = PATH_ERROR_REASONS[code] ?? 'it rejected a test write';
    throw new OutputPathError(
      target,
      `cannot write ${flag} '${target}': the folder ${current} does not accept new files ` +
        `(${reason}, ${code}). ${fixFor(flag)}`,
      { cause: error },
    );
  }
  await rmdir(probe);
}

function fixFor(flag: string): string {
  return `Choose a ${flag} path in a folder you can write to.`;
}

/** Returns `path` or its nearest existing ancestor, with its kind. */
async function nearestExisting(path: string): Promise<{ path: string; kind: 'file' | 'folder' }> {
  let current = path;
  let kind = await pathKind(current);
  while (kind === 'missing' && dirname(current) !== current) {
    current = dirname(current);
    kind = await pathKind(current);
  }
  // The file system root always exists, so the loop ends on an existing path.
  return { path: current, kind: kind === 'file' ? 'file' : 'folder' };
}

async function pathKind(path: string): Promise<'missing' | 'file' | 'folder'> {
  try {
    return (await stat(path)).isDirectory() ? 'folder' : 'file';
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    // A file in the middle of the path (ENOTDIR) is reported by the ancestor walk.
    if (code === 'ENOENT' || code === 'ENOTDIR') return 'missing';
    throw error;
  }
}
