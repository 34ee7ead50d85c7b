/**
 * Errors of model loading, inference and result writing, with stable codes. The CLI prints `error [CODE]` and the
 * server returns `{ code, message }`; tests match on `code`, never on the message text.
 */
export const MODEL_ERROR_CODES = [
  /** The model folder or one of the files its card names does not exist. */
  'MODEL_NOT_FOUND',
  /** `model-card.json`, the baseline or the reference patch is unreadable or lacks a field. */
  'MODEL_CARD_INVALID',
  /** The model was trained on other preprocessing or another bag or card format. */
  'MODEL_INCOMPATIBLE',
  /** Subject metadata (age, sex, height, weight, smoking, Hb) is missing or out of range. */
  'METADATA_INVALID',
  /** An inference input has the wrong length, dtype or patch size. */
  'MODEL_INPUT_INVALID',
  /** ONNX Runtime failed to create a session or to run a graph, or a result broke its schema. */
  'MODEL_RUNTIME_FAILED',
  /** The output folder exists and contains files that are not an earlier result. */
  'OUTPUT_EXISTS',
] as const;

export type ModelErrorCode = (typeof MODEL_ERROR_CODES)[number];

/** A model that cannot be loaded or run, with a stable `code` and the values involved. */
export class ModelError extends Error {
  readonly code: ModelErrorCode;
  readonly details: Record<string, unknown>;

  constructor(
    code: ModelErrorCode,
    message: string,
    details: Record<string, unknown> = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ModelError';
    this.code = code;
    this.details = details;
  }
}

export function isModelError(error: unknown): error is ModelError {
  return error instanceof ModelError;
}
