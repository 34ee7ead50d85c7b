/**
 * Input errors with stable codes. The CLI prints the message and exits non-zero; the server
 * returns `{ code, message }` with a 4xx status. Tests assert on `code`, never on the text.
 */
export const INPUT_ERROR_CODES = [
  'INPUT_NOT_FOUND',
  'INPUT_FORMAT_UNSUPPORTED',
  'INPUT_CORRUPT',
  'INPUT_TOO_LARGE',
  'INPUT_NOT_3D',
  'INPUT_TOO_FEW_SLICES',
  'INPUT_SPACING_INVALID',
  'INPUT_NOT_HU',
  'NIFTI_QFORM_SFORM_MISMATCH',
  'NIFTI_SHEARED',
  'DICOM_NO_IMAGES',
  'DICOM_NOT_CT',
  'DICOM_MISSING_SLICES',
  'DICOM_DUPLICATE_POSITION',
  'DICOM_UNEVEN_SPACING',
  'DICOM_GANTRY_TILT',
  'DICOM_MULTIFRAME',
  'DICOM_MULTIPLE_SERIES',
  'DICOM_TRANSFER_SYNTAX_UNSUPPORTED',
  'ZIP_INVALID',
  'LUNG_COVERAGE_INCOMPLETE',
  'LUNGS_NOT_FOUND',
  'MANIFEST_INVALID',
] as const;

export type InputErrorCode = (typeof INPUT_ERROR_CODES)[number];

/** An error in the caller's input: its `code` is stable across releases. */
export class InputError extends Error {
  readonly code: InputErrorCode;
  readonly details: Record<string, unknown>;

  constructor(code: InputErrorCode, message: string, details: Record<string, unknown> = {}) {
    super(message);
    this.name = 'InputError';
    this.code = code;
    this.details = details;
  }
}

export function isInputError(error: unknown): error is InputError {
  return error instanceof InputError;
}
