import { createWriteStream } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { join } from 'node:path';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';

import busboy from 'busboy';

import { HttpError, type ServerErrorCode } from './errors.ts';

/** Form field that carries the scan file or files. */
export const SCAN_FIELD = 'scan';

/** Limits of one multipart upload. */
export interface UploadLimits {
  /** Maximum request body in bytes, counted as it streams, with or without Content-Length. */
  maxBodyBytes: number;
  /** Maximum number of files in the `scan` field. */
  maxFiles: number;
}

/** A multipart upload written to disk: the text fields and the stored file paths in order. */
export interface StoredUpload {
  fields: Record<string, string>;
  files: string[];
}

/**
 * Streams a multipart/form-data request to `dir`, one file per part of the `scan` field named
 * `part-<n>` (the client's file name is never used as a path). The body is counted as it
 * arrives and the parse stops with 413 `UPLOAD_TOO_LARGE` once it passes `maxBodyBytes`, so
 * nothing is held whole in memory.
 *
 * `checkFieldsBeforeFile` runs on the fields sent before the first file. An HttpError it throws
 * ends the upload at once, so a client that sends invalid metadata first does not have to send
 * the whole scan before it learns so.
 *
 * @throws HttpError 413 `UPLOAD_TOO_LARGE`, 400 `UPLOAD_INVALID` for a body that is not
 *   multipart, has a file in another field or too many files, or the error of
 *   `checkFieldsBeforeFile`.
 */
export async function receiveUpload(
  request: IncomingMessage,
  dir: string,
  limits: UploadLimits,
  checkFieldsBeforeFile?: (fields: Record<string, string>) => void,
): Promise<StoredUpload> {
  const declared = Number(request.headers['content-length']);
  if (Number.isFinite(declared) && declared > limits.maxBodyBytes) throw tooLarge(limits);

  let parser: busboy.Busboy;
  try {
    parser = busboy({
      headers: request.headers,
      limits: { files: limits.maxFiles, fields: 32, fieldSize: 1024 },
    });
  } catch (error) {
    throw new HttpError(400, 'UPLOAD_INVALID', `Invalid upload: ${(error as Error).message}.`);
  }
  const upload: StoredUpload = { fields: {}, files: [] };
  const writes: Promise<void>[] = [];
  const fileStreams: Readable[] = [];
  let failure: HttpError | undefined;
  const fail = (error: HttpError) => {
    failure ??= error;
  };
  let rejectUpload: (error: unknown) => void = () => {};

  parser.on('field', (name, value) => {
    upload.fields[name] = value;
  });
  parser.on('file', (name, stream) => {
    if (name !== SCAN_FIELD || failure !== undefined) {
      if (name !== SCAN_FIELD) {
        const message = `Unexpected file field '${name}'. Send the scan in field '${SCAN_FIELD}'.`;
        fail(new HttpError(400, 'UPLOAD_INVALID', message));
      }
      stream.resume();
      return;
    }
    if (upload.files.length === 0 && checkFieldsBeforeFile !== undefined) {
      try {
        checkFieldsBeforeFile(upload.fields);
      } catch (error) {
        stream.resume();
        rejectUpload(error);
        return;
      }
    }
    const path = join(dir, `part-${upload.files.length}`);
    upload.files.push(path);
    fileStreams.push(stream);
    writes.push(pipeline(stream, createWriteStream(path)));
  });
  parser.on('filesLimit', () =>
    fail(
      new HttpError(
        400,
        'UPLOAD_INVALID',
        `Too many files: at most ${limits.maxFiles} are accepted.`,
      ),
    ),
  );

  const counter = new ByteCounter(limits.maxBodyBytes);
  try {
    await new Promise<void>((resolve, reject) => {
      rejectUpload = reject;
      parser.on('close', resolve);
      parser.on('error', reject);
      counter.on('error', reject);
      request.on('error', reject);
      request.on('close', () => {
        if (!request.complete) reject(new Error('the client closed the connection mid-upload'));
      });
      // Not stream.pipeline: it would destroy the request, and with it the socket the 413
      // response must go out on.
      request.pipe(counter).pipe(parser);
    });
    await Promise.all(writes);
  } catch (error) {
    request.unpipe(counter);
    for (const stream of fileStreams) stream.destroy();
    await Promise.allSettled(writes);
    if (counter.exceeded) throw tooLarge(limits);
    if (error instanceof HttpError) throw withConnectionClose(error);
    const reason = (error as Error).message;
    throw new HttpError(400, 'UPLOAD_INVALID', `Invalid multipart body: ${reason}.`);
  }
  if (failure !== undefined) throw failure;
  return upload;
}

/** Copies an error raised before the body was read whole, so that the socket is closed after. */
function withConnectionClose(error: HttpError): HttpError {
  return new HttpError(error.status, error.code as ServerErrorCode, error.message, {
    details: error.details,
    headers: { ...error.headers, Connection: 'close' },
  });
}

function tooLarge(limits: UploadLimits): HttpError {
  return new HttpError(
    413,
    'UPLOAD_TOO_LARGE',
    `The upload exceeds the limit of ${limits.maxBodyBytes} bytes. Send a smaller scan or a ` +
      'compressed file (.nii.gz or .zip).',
    { details: { maxBytes: limits.maxBodyBytes }, headers: { Connection: 'close' } },
  );
}

/** Passes bytes through and fails once more than `maxBytes` have passed. */
class ByteCounter extends Transform {
  exceeded = false;
  #bytes = 0;
  readonly #maxBytes: number;

  constructor(maxBytes: number) {
    super();
    this.#maxBytes = maxBytes;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
    this.#bytes += chunk.length;
    if (this.#bytes > this.#maxBytes) {
      this.exceeded = true;
      callback(new Error('body too large'));
      return;
    }
    callback(null, chunk);
  }
}
