import { createWriteStream } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { join } from 'node:path';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';

import busboy from 'busboy';

import { HttpError } from './errors.ts';

/** Form field that carries the scan file or files. */
export const SCAN_FIELD = 'scan';

/** Maximum bytes of one text field; a longer value is rejected, never truncated. */
const MAX_FIELD_BYTES = 1024;
/** Maximum number of text fields in one upload. */
const MAX_FIELDS = 32;
/** Maximum length of a client file name in UTF-8 bytes, the limit of common file systems. */
const MAX_FILE_NAME_BYTES = 255;
/** Maximum time in ms that the rest of a rejected body is read and dropped. */
const LINGER_MAX_MS = 5_000;
/** Pause in ms in the rest of a rejected body after which the connection closes. */
const LINGER_IDLE_MS = 1_000;

/** Limits of one multipart upload. */
export interface UploadLimits {
  /** Maximum request body in bytes, counted as it streams, with or without Content-Length. */
  maxBodyBytes: number;
  /** Maximum number of files in the `scan` field. */
  maxFiles: number;
  /** Time in ms the body may go without a byte before the upload fails with 408. */
  uploadIdleTimeoutMs: number;
  /** Time in ms the whole body may take before the upload fails with 408. */
  uploadTimeoutMs: number;
}

/** One part of the `scan` field as written to disk. */
export interface StoredFile {
  /** Server path of the stored bytes, named by the server. */
  path: string;
  /** The client's file name reduced to a safe basename by `sanitizeFileName`, if it sent one. */
  name: string | undefined;
}

/** A multipart upload written to disk: the text fields and the stored files in order. */
export interface StoredUpload {
  fields: Record<string, string>;
  files: StoredFile[];
}

/** Rules for the text fields of an upload. */
export interface UploadFieldRules {
  /** Accepted text field names; any other field, and any repeated field, is rejected. */
  fieldNames: readonly string[];
  /**
   * Runs on the fields sent before the first file. An HttpError it throws ends the upload at
   * once, so a client that sends invalid metadata first does not have to send the whole scan
   * before it learns so.
   */
  checkFieldsBeforeFile?: (fields: Record<string, string>) => void;
}

/**
 * Reduces a client file name to its last path segment, the way browsers send it, and checks
 * that the rest is safe to use as a file name inside a job folder.
 *
 * @returns the basename, or undefined when the client sent no name
 * @throws HttpError 400 `UPLOAD_FILE_NAME_INVALID` for a name that is empty after the last `/`
 *   or `\`, is `.` or `..`, starts with a dot, contains control characters, or is longer than
 *   255 bytes.
 */
export function sanitizeFileName(raw: string | undefined): string | undefined {
  if (raw === undefined || raw === '') return undefined;
  const name = raw.slice(Math.max(raw.lastIndexOf('/'), raw.lastIndexOf('\\')) + 1);
  let reason: string | undefined;
  if (name === '') reason = 'it ends with a path separator';
  else if (name.startsWith('.')) reason = 'it starts with a dot';
  // eslint-disable-next-line no-control-regex
  else if (/[\u0000-\u001f\u007f]/.test(name)) reason = 'it contains control characters';
  else if (Buffer.byteLength(name) > MAX_FILE_NAME_BYTES) {
    reason = `it is longer than ${MAX_FILE_NAME_BYTES} bytes`;
  }
  if (reason === undefined) return name;
  throw new HttpError(
    400,
    'UPLOAD_FILE_NAME_INVALID',
    `Invalid file name ${JSON.stringify(raw.slice(0, 64))} in field '${SCAN_FIELD}': ${reason}. ` +
      'Rename the file, for example to scan.nhdr or scan.raw.',
    { details: { fileName: raw.slice(0, 256) } },
  );
}

/**
 * Streams a multipart/form-data request to `dir`, one file per part of the `scan` field named
 * `part-<n>`. The client's file name is kept only as a sanitized basename in `StoredFile.name`
 * and never used as a path here. The body is counted as it arrives and the parse stops with 413
 * `UPLOAD_TOO_LARGE` once it passes `maxBodyBytes`, so nothing is held whole in memory.
 *
 * Errors found before the body ends end the upload at once: unknown or repeated fields, an
 * invalid file name, the error of `checkFieldsBeforeFile`, a timeout or the size limit. The
 * response goes out while the rest of the body is dropped. The connection closes a few seconds
 * later unless the body ends first (see `discardRest`).
 *
 * @throws HttpError 413 `UPLOAD_TOO_LARGE`.
 * @throws HttpError 408 `UPLOAD_TIMEOUT` when no byte arrives for `uploadIdleTimeoutMs` or the
 *   body takes longer than `uploadTimeoutMs`.
 * @throws HttpError 400 `UPLOAD_FIELD_UNKNOWN`, `UPLOAD_FIELD_REPEATED` or
 *   `UPLOAD_FILE_NAME_INVALID`.
 * @throws HttpError 400 `UPLOAD_INVALID` for a body that is not multipart or is cut off, a file
 *   in another field, too many files or fields, or an over-long field.
 * @throws the error of `checkFieldsBeforeFile`.
 */
export async function receiveUpload(
  request: IncomingMessage,
  dir: string,
  limits: UploadLimits,
  rules: UploadFieldRules,
): Promise<StoredUpload> {
  const declared = Number(request.headers['content-length']);
  if (Number.isFinite(declared) && declared > limits.maxBodyBytes) {
    discardRest(request);
    throw tooLarge(limits);
  }

  let parser: busboy.Busboy;
  try {
    parser = busboy({
      headers: request.headers,
      // File names are sanitized by sanitizeFileName, not by busboy's own basename.
      preservePath: true,
      limits: { files: limits.maxFiles, fields: MAX_FIELDS, fieldSize: MAX_FIELD_BYTES },
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

  parser.on('field', (name, value, info) => {
    if (name === SCAN_FIELD) {
      const message =
        `${SCAN_FIELD} must be a file, but it was sent as a text field. Send the scan as a ` +
        `file part, for example curl -F ${SCAN_FIELD}=@ct.nii.gz (with the @).`;
      rejectUpload(new HttpError(400, 'UPLOAD_INVALID', message, { details: { field: name } }));
      return;
    }
    try {
      checkField(upload.fields, rules, name, info);
    } catch (error) {
      rejectUpload(error);
      return;
    }
    upload.fields[name] = value;
  });
  parser.on('fieldsLimit', () =>
    rejectUpload(
      new HttpError(400, 'UPLOAD_INVALID', `Too many fields: at most ${MAX_FIELDS} are accepted.`),
    ),
  );
  parser.on('file', (name, stream, info) => {
    if (name !== SCAN_FIELD || failure !== undefined) {
      if (name !== SCAN_FIELD) {
        const message = `Unexpected file field '${name}'. Send the scan in field '${SCAN_FIELD}'.`;
        fail(new HttpError(400, 'UPLOAD_INVALID', message));
      }
      stream.resume();
      return;
    }
    let fileName: string | undefined;
    try {
      fileName = sanitizeFileName(info.filename);
      if (upload.files.length === 0) rules.checkFieldsBeforeFile?.(upload.fields);
    } catch (error) {
      stream.resume();
      rejectUpload(error);
      return;
    }
    const path = join(dir, `part-${upload.files.length}`);
    upload.files.push({ path, name: fileName });
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

  const timers = new UploadTimers(limits, (error) => rejectUpload(error));
  const counter = new ByteCounter(limits.maxBodyBytes, () => timers.touch());
  try {
    await new Promise<void>((resolve, reject) => {
      rejectUpload = reject;
      timers.start();
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
    discardRest(request);
    for (const stream of fileStreams) stream.destroy();
    await Promise.allSettled(writes);
    if (counter.exceeded) throw tooLarge(limits);
    if (error instanceof HttpError) throw error;
    const reason = (error as Error).message;
    throw new HttpError(400, 'UPLOAD_INVALID', `Invalid multipart body: ${reason}.`);
  } finally {
    timers.stop();
  }
  if (failure !== undefined) throw failure;
  return upload;
}

/**
 * Rejects a field that the upload does not accept, that was sent before, or whose name or
 * value busboy truncated, because a truncated value would be a silently changed one.
 */
function checkField(
  fields: Record<string, string>,
  rules: UploadFieldRules,
  name: string,
  info: busboy.FieldInfo,
): void {
  const shownName = JSON.stringify(name.slice(0, 64));
  if (info.nameTruncated || info.valueTruncated) {
    throw new HttpError(
      400,
      'UPLOAD_INVALID',
      `Field ${shownName} is longer than ${MAX_FIELD_BYTES} bytes. Send metadata values as ` +
        'short plain numbers or words.',
      { details: { field: name.slice(0, 64) } },
    );
  }
  if (!rules.fieldNames.includes(name)) {
    throw new HttpError(
      400,
      'UPLOAD_FIELD_UNKNOWN',
      `Unknown field ${shownName}. Accepted fields are ${rules.fieldNames.join(', ')} and the ` +
        `file field '${SCAN_FIELD}'.`,
      { details: { field: name.slice(0, 64), accepted: rules.fieldNames } },
    );
  }
  if (Object.hasOwn(fields, name)) {
    throw new HttpError(
      400,
      'UPLOAD_FIELD_REPEATED',
      `Field ${shownName} is sent more than once. Send each metadata field once.`,
      { details: { field: name } },
    );
  }
}

/**
 * Idle and total deadlines of one upload body. `touch` restarts the idle deadline; either
 * deadline calls `onTimeout` with a 408 `UPLOAD_TIMEOUT` error.
 */
class UploadTimers {
  readonly #limits: UploadLimits;
  readonly #onTimeout: (error: HttpError) => void;
  #idle: NodeJS.Timeout | undefined;
  #total: NodeJS.Timeout | undefined;

  constructor(limits: UploadLimits, onTimeout: (error: HttpError) => void) {
    this.#limits = limits;
    this.#onTimeout = onTimeout;
  }

  start(): void {
    this.#total = setTimeout(() => {
      const seconds = this.#limits.uploadTimeoutMs / 1000;
      this.#onTimeout(
        uploadTimeout(
          `The upload took longer than ${seconds} s, the limit for a whole body. Send the ` +
            'scan over a faster link or compressed (.nii.gz or .zip).',
          { timeoutMs: this.#limits.uploadTimeoutMs },
        ),
      );
    }, this.#limits.uploadTimeoutMs);
    this.touch();
  }

  touch(): void {
    clearTimeout(this.#idle);
    this.#idle = setTimeout(() => {
      const seconds = this.#limits.uploadIdleTimeoutMs / 1000;
      this.#onTimeout(
        uploadTimeout(
          `No upload data arrived for ${seconds} s. Send the body without pauses.`,
          { idleTimeoutMs: this.#limits.uploadIdleTimeoutMs },
        ),
      );
    }, this.#limits.uploadIdleTimeoutMs);
  }

  stop(): void {
    clearTimeout(this.#idle);
    clearTimeout(this.#total);
  }
}

function uploadTimeout(message: string, details: Record<string, unknown>): HttpError {
  return new HttpError(408, 'UPLOAD_TIMEOUT', message, { details });
}

/**
 * Reads and drops the rest of a rejected body for at most `LINGER_MAX_MS`, and closes the
 * connection after that or after `LINGER_IDLE_MS` without data. Closing a socket that still
 * receives data makes the kernel send a TCP reset, and a client that is still writing then
 * loses the error response. Node closes the socket right after a `Connection: close`
 * response, so the errors of rejected uploads are sent without that header. A client that
 * sends its body to the end within the limits keeps its connection.
 */
function discardRest(request: IncomingMessage): void {
  if (request.complete || request.destroyed) return;
  const close = () => request.socket.destroy();
  const total = setTimeout(close, LINGER_MAX_MS);
  let idle = setTimeout(close, LINGER_IDLE_MS);
  request.on('data', () => {
    clearTimeout(idle);
    idle = setTimeout(close, LINGER_IDLE_MS);
  });
  request.once('close', () => {
    clearTimeout(total);
    clearTimeout(idle);
  });
  request.resume();
}

function tooLarge(limits: UploadLimits): HttpError {
  return new HttpError(
    413,
    'UPLOAD_TOO_LARGE',
    `The upload exceeds the limit of ${limits.maxBodyBytes} bytes. Send a smaller scan or a ` +
      'compressed file (.nii.gz or .zip).',
    { details: { maxBytes: limits.maxBodyBytes } },
  );
}

/**
 * Passes bytes through, calls `onChunk` for each chunk, and fails once more than `maxBytes`
 * have passed.
 */
class ByteCounter extends Transform {
  exceeded = false;
  #bytes = 0;
  readonly #maxBytes: number;
  readonly #onChunk: () => void;

  constructor(maxBytes: number, onChunk: () => void) {
    super();
    this.#maxBytes = maxBytes;
    this.#onChunk = onChunk;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
    this.#onChunk();
    this.#bytes += chunk.length;
    if (this.#bytes > this.#maxBytes) {
      this.exceeded = true;
      callback(new Error('body too large'));
      return;
    }
    callback(null, chunk);
  }
}
