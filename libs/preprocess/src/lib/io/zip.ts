import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';

// yauzl reads the central directory first, so entry count and names are checked before any
// byte is inflated.
import yauzl from 'yauzl';

import { InputError } from '../errors.ts';

/** Limits on what a .zip may expand to. */
export interface ZipLimits {
  maxEntries: number;
  /** Cap on the total inflated bytes, counted as they are written. */
  maxBytes: number;
}

function invalid(zipPath: string, reason: string, fix = 'Create the archive again.'): InputError {
  return new InputError('ZIP_INVALID', `Zip archive ${zipPath} is rejected: ${reason}. ${fix}`, {
    file: zipPath,
  });
}

function openZip(zipPath: string): Promise<yauzl.ZipFile> {
  return new Promise((resolve, reject) => {
    // yauzl 2.10's own entry size check overrides destroy() on its read stream. On Node 20 a
    // failed check therefore stops the stream without an error, and extraction never ends.
    // extractEntry checks the sizes instead.
    const options = { lazyEntries: true, autoClose: true, validateEntrySizes: false };
    yauzl.open(zipPath, options, (error, zipFile) => {
      if (error || zipFile === undefined) {
        reject(invalid(zipPath, `it could not be opened (${error?.message ?? 'no archive'})`));
      } else {
        resolve(zipFile);
      }
    });
  });
}

function isUnsafeName(name: string): boolean {
  return (
    name.startsWith('/') ||
    name.startsWith('\\') ||
    /^[a-zA-Z]:/.test(name) ||
    name.split(/[\\/]/).includes('..')
  );
}

/** Entry names with an archive extension; `extractZip` writes such entries packed. */
const ARCHIVE_ENTRY = /\.(zip|tar|tgz|gz|bz2|xz|7z|rar)$/i;

/** Summary of a zip archive's central directory, from `checkZipArchive`. */
export interface ZipArchiveSummary {
  entries: number;
  /** Sum of the uncompressed sizes that the central directory declares, which may be false. */
  declaredBytes: number;
  /** Entries that are archives themselves, which `extractZip` never expands. */
  nestedArchives: string[];
}

/**
 * Checks a zip archive from its central directory alone, before anything is inflated: the
 * entry count, each entry name, encryption, and the sum of the declared uncompressed sizes.
 * A client can declare false sizes, so `extractZip` still counts the inflated bytes.
 *
 * @throws InputError `ZIP_INVALID` for an unreadable archive, an encrypted entry, or an entry
 *   with an absolute path or a `..` segment.
 * @throws InputError `INPUT_TOO_LARGE` for more entries than `limits.maxEntries`, or declared
 *   sizes above `limits.maxBytes`.
 */
export async function checkZipArchive(
  zipPath: string,
  limits: ZipLimits,
): Promise<ZipArchiveSummary> {
  const zipFile = await openZip(zipPath);
  if (zipFile.entryCount > limits.maxEntries) {
    zipFile.close();
    throw tooManyEntries(zipPath, zipFile.entryCount, limits);
  }
  const summary: ZipArchiveSummary = {
    entries: zipFile.entryCount,
    declaredBytes: 0,
    nestedArchives: [],
  };
  try {
    await new Promise<void>((resolve, reject) => {
      zipFile.on('error', (error: Error) => reject(error));
      zipFile.on('end', () => resolve());
      zipFile.on('entry', (entry: yauzl.Entry) => {
        try {
          checkEntryHeader(entry, zipPath);
        } catch (error) {
          reject(error);
          return;
        }
        summary.declaredBytes += entry.uncompressedSize;
        if (summary.declaredBytes > limits.maxBytes) {
          reject(tooManyBytes(zipPath, limits));
          return;
        }
        if (ARCHIVE_ENTRY.test(entry.fileName)) summary.nestedArchives.push(entry.fileName);
        zipFile.readEntry();
      });
      zipFile.readEntry();
    });
  } catch (error) {
    zipFile.close();
    if (error instanceof InputError) throw error;
    throw invalid(zipPath, (error as Error).message);
  }
  return summary;
}

function checkEntryHeader(entry: yauzl.Entry, zipPath: string): void {
  const name = entry.fileName;
  if (isUnsafeName(name)) {
    throw invalid(zipPath, `entry "${name}" points outside the archive folder`);
  }
  if ((entry.generalPurposeBitFlag & 0x1) !== 0) {
    const fix = 'Create the archive without a password.';
    throw invalid(zipPath, `entry "${name}" is encrypted`, fix);
  }
}

function tooManyEntries(zipPath: string, entries: number, limits: ZipLimits): InputError {
  return new InputError(
    'INPUT_TOO_LARGE',
    `Zip archive ${zipPath} has ${entries} entries, above the limit of ` +
      `${limits.maxEntries}. Zip only the CT series folder.`,
    { file: zipPath, entries, maxEntries: limits.maxEntries },
  );
}

function tooManyBytes(zipPath: string, limits: ZipLimits): InputError {
  return new InputError(
    'INPUT_TOO_LARGE',
    `Zip archive ${zipPath} expands to more than ${limits.maxBytes} bytes, the limit ` +
      'derived from maxVoxels. Zip only the CT series folder, or raise maxVoxels.',
    { file: zipPath, maxBytes: limits.maxBytes },
  );
}

/**
 * Extracts every file entry of a zip archive into `destination`, a fresh folder owned by the
 * caller. Nested archives are written as plain files and never expanded.
 *
 * @throws InputError `ZIP_INVALID` for an unreadable archive, an encrypted entry, or an entry
 *   with an absolute path or a `..` segment.
 * @throws InputError `INPUT_TOO_LARGE` when the archive exceeds `limits`.
 */
export async function extractZip(zipPath: string, destination: string, limits: ZipLimits) {
  const zipFile = await openZip(zipPath);
  if (zipFile.entryCount > limits.maxEntries) {
    zipFile.close();
    throw tooManyEntries(zipPath, zipFile.entryCount, limits);
  }
  const written = { bytes: 0 };
  try {
    await new Promise<void>((resolve, reject) => {
      zipFile.on('error', (error: Error) => reject(error));
      zipFile.on('end', () => resolve());
      zipFile.on('entry', (entry: yauzl.Entry) => {
        extractEntry(zipFile, entry, zipPath, destination, limits, written).then(
          () => zipFile.readEntry(),
          (error: unknown) => reject(error),
        );
      });
      zipFile.readEntry();
    });
  } catch (error) {
    zipFile.close();
    if (error instanceof InputError) throw error;
    throw invalid(zipPath, (error as Error).message);
  }
}

async function extractEntry(
  zipFile: yauzl.ZipFile,
  entry: yauzl.Entry,
  zipPath: string,
  destination: string,
  limits: ZipLimits,
  written: { bytes: number },
): Promise<void> {
  const name = entry.fileName;
  checkEntryHeader(entry, zipPath);
  if (name.endsWith('/')) return;
  const target = path.join(destination, name);
  await mkdir(path.dirname(target), { recursive: true });
  const input = await new Promise<NodeJS.ReadableStream>((resolve, reject) => {
    zipFile.openReadStream(entry, (error, stream) => (error ? reject(error) : resolve(stream!)));
  });
  const declared = entry.uncompressedSize;
  let entryBytes = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      entryBytes += chunk.length;
      written.bytes += chunk.length;
      if (written.bytes > limits.maxBytes) {
        callback(tooManyBytes(zipPath, limits));
      } else if (entryBytes > declared) {
        const reason = `entry "${name}" inflates to more than its declared ${declared} bytes`;
        callback(invalid(zipPath, reason));
      } else {
        callback(null, chunk);
      }
    },
    flush(callback) {
      if (entryBytes < declared) {
        const reason = `entry "${name}" inflates to ${entryBytes} of ${declared} declared bytes`;
        callback(invalid(zipPath, reason));
      } else {
        callback();
      }
    },
  });
  await pipeline(input, counter, createWriteStream(target));
}
