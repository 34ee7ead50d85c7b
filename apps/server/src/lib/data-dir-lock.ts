import { mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Name of the lock file in the data dir; it contains the pid of the server that holds it. */
export const LOCK_FILE_NAME = 'server.lock';

/** Raised when another running process has locked the data dir. */
export class DataDirLockedError extends Error {
  readonly dataDir: string;
  readonly ownerPid: number;

  constructor(dataDir: string, ownerPid: number) {
    super(
      `The data dir ${dataDir} is in use by another dlco server (pid ${ownerPid}). Stop that ` +
        'server first, or start this one with another --data-dir.',
    );
    this.name = 'DataDirLockedError';
    this.dataDir = dataDir;
    this.ownerPid = ownerPid;
  }
}

/** An exclusive lock on a data dir, held until `release` is called. */
export interface DataDirLock {
  release(): void;
}

/**
 * Takes the data dir for this process, so that two servers never run the same queued jobs.
 * The lock file is created with O_EXCL. A lock file whose pid is no longer running is left
 * from a server that died, and it is replaced.
 *
 * NOTE: liveness is checked by pid only. A lock of a dead server whose pid the system has
 * given to another process still blocks; delete `server.lock` by hand then.
 *
 * @throws DataDirLockedError when a live process, this one included, holds the lock
 */
export function lockDataDir(dataDir: string): DataDirLock {
  mkdirSync(dataDir, { recursive: true });
  const path = join(dataDir, LOCK_FILE_NAME);
  for (let attempt = 0; attempt < 2; attempt += 1) {
    try {
      writeFileSync(path, `${process.pid}\n`, { flag: 'wx' });
      return { release: () => releaseLock(path) };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const ownerPid = readOwnerPid(path);
    if (ownerPid !== undefined && isRunning(ownerPid)) {
      throw new DataDirLockedError(dataDir, ownerPid);
    }
    // Stale: the owner has exited, or it died before it wrote its pid.
    try {
      unlinkSync(path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
  const ownerPid = readOwnerPid(path) ?? 0;
  throw new DataDirLockedError(dataDir, ownerPid);
}

function readOwnerPid(path: string): number | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
  }
  return /^\d+$/.test(text) ? Number(text) : undefined;
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function releaseLock(path: string): void {
  // Only this process's own lock is removed, never one a later server has taken.
  if (readOwnerPid(path) !== process.pid) return;
  try {
    unlinkSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}
