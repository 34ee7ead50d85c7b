import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';

// yauzl reads the central directory first, so entry count and names are checked before any
// byte is inflated, and it verifies each entry's inflated size against its header.
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
    yauzl.open(zipPath, { lazyEntries: true, autoClose: true }, (error, zipFile) => {
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
    throw new InputError(
      'INPUT_TOO_LARGE',
      `Zip archive ${zipPath} has ${zipFile.entryCount} entries, above the limit of ` +
        `${limits.maxEntries}. Zip only the CT series folder.`,
      { file: zipPath, entries: zipFile.entryCount, maxEntries: limits.maxEntries },
    );
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
  if (isUnsafeName(name)) {
    throw invalid(zipPath, `entry "${name}" points outside the archive folder`);
  }
  if (name.endsWith('/')) return;
  if ((entry.generalPurposeBitFlag & 0x1) !== 0) {
    throw invalid(
      zipPath,
      `entry "${name}" is encrypted`,
      'Create the archive without a password.',
    );
  }
  const target = path.join(destination, name);
  await mkdir(path.dirname(target), { recursive: true });
  const input = await new Promise<NodeJS.ReadableStream>((resolve, reject) => {
    zipFile.openReadStream(entry, (error, stream) => (error ? reject(error) : resolve(stream!)));
  });
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      written.bytes += chunk.length;
      if (written.bytes > limits.maxBytes) {
        callback(
          new InputError(
            'INPUT_TOO_LARGE',
            `Zip archive ${zipPath} expands to more than ${limits.maxBytes} bytes, the limit ` +
              'derived from maxVoxels. Zip only the CT series folder, or raise maxVoxels.',
            { file: zipPath, maxBytes: limits.maxBytes },
          ),
        );
      } else {
        callback(null, chunk);
      }
    },
  });
  await pipeline(input, counter, createWriteStream(target));
}
