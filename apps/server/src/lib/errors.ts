import { isModelError, type ModelErrorCode } from '@dlco/model';
import { isInputError, type InputError, type InputErrorCode } from '@dlco/preprocess';

/** Codes of errors that only the HTTP layer raises; input and model errors keep their own. */
export type ServerErrorCode =
  | 'UNAUTHORIZED'
  | 'FORBIDDEN'
  | 'NOT_FOUND'
  | 'JOB_NOT_DONE'
  | 'JOB_FAILED'
  | 'JOB_RUNNING'
  | 'UPLOAD_INVALID'
  | 'UPLOAD_TOO_LARGE'
  | 'UPLOAD_TYPE_UNSUPPORTED'
  | 'UPLOAD_TIMEOUT'
  | 'UPLOAD_FIELD_UNKNOWN'
  | 'UPLOAD_FIELD_REPEATED'
  | 'UPLOAD_FILE_NAME_INVALID'
  | 'UPLOAD_FILE_NAME_DUPLICATE'
  | 'UPLOAD_DATA_FILE_INVALID'
  | 'QUEUE_FULL'
  | 'MODEL_UNAVAILABLE'
  | 'JOB_INTERRUPTED'
  | 'INTERNAL_ERROR';

/** An error sent to the client as `{ error: { code, message, details } }` with `status`. */
export class HttpError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: Record<string, unknown>;
  readonly headers: Record<string, string>;

  constructor(
    status: number,
    code: ServerErrorCode | ModelErrorCode | InputErrorCode,
    message: string,
    options: { details?: Record<string, unknown>; headers?: Record<string, string> } = {},
  ) {
    super(message);
    this.name = 'HttpError';
    this.status = status;
    this.code = code;
    this.details = options.details ?? {};
    this.headers = options.headers ?? {};
  }
}

/**
 * Converts an input error found while the upload is checked into the 422 response a failed job
 * would store, with the same stable code. `uploadDir` is cut from the message, so that it names
 * the stored files without the server's folders.
 */
export function httpErrorFromInputError(error: InputError, uploadDir: string): HttpError {
  const message = error.message.replaceAll(`${uploadDir}/`, '');
  return new HttpError(422, error.code, message);
}

/** Model errors caused by the request rather than by the model or the machine. */
const CLIENT_MODEL_ERRORS: readonly string[] = ['METADATA_INVALID', 'MODEL_INPUT_INVALID'];

/** Failure stored with a job: the status and body that GET returns for it. */
export interface JobFailure {
  status: number;
  code: string;
  message: string;
}

/**
 * Converts an error thrown while a job runs into its stored failure. Input errors from
 * preprocessing become 422 with their stable code, and model errors keep their code. Any other
 * error becomes a 500 with a generic message, because its own message may contain file paths.
 */
export function jobFailureFromError(error: unknown): JobFailure {
  if (isInputError(error)) return { status: 422, code: error.code, message: error.message };
  if (isModelError(error)) {
    const status = CLIENT_MODEL_ERRORS.includes(error.code) ? 422 : 500;
    return { status, code: error.code, message: error.message };
  }
  return { status: 500, code: 'INTERNAL_ERROR', message: 'The prediction failed on the server.' };
}
