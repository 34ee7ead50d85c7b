import { ModelError } from '@dlco/model';
import { INPUT_ERROR_CODES, InputError } from '@dlco/preprocess';
import { describe, expect, it } from 'vitest';

import { httpErrorFromInputError, jobFailureFromError } from './errors.ts';

describe('jobFailureFromError', () => {
  it.each(INPUT_ERROR_CODES)('input error %s becomes 422 with its code', (code) => {
    const failure = jobFailureFromError(new InputError(code, `Scan is rejected (${code}).`));
    expect(failure.status).toBe(422);
    expect(failure.code).toBe(code);
    expect(failure.message).toBe(`Scan is rejected (${code}).`);
  });

  it.each(['METADATA_INVALID', 'MODEL_INPUT_INVALID'] as const)(
    'model error %s becomes 422',
    (code) => {
      const failure = jobFailureFromError(new ModelError(code, 'Invalid input.'));
      expect(failure.status).toBe(422);
      expect(failure.code).toBe(code);
    },
  );

  it('model runtime failure stays a 500', () => {
    const failure = jobFailureFromError(new ModelError('MODEL_RUNTIME_FAILED', 'ONNX failed.'));
    expect(failure.status).toBe(500);
    expect(failure.code).toBe('MODEL_RUNTIME_FAILED');
  });

  it('other error hides its message', () => {
    const failure = jobFailureFromError(new Error('EACCES: /srv/dlco-data/jobs/x'));
    expect(failure.status).toBe(500);
    expect(failure.code).toBe('INTERNAL_ERROR');
    expect(failure.message).not.toContain('/srv');
  });
});

describe('httpErrorFromInputError', () => {
  it.each(INPUT_ERROR_CODES)('%s keeps its code as a 422', (code) => {
    const error = new InputError(code, 'Zip archive /data/jobs/1/upload/scan.zip is rejected.');
    const httpError = httpErrorFromInputError(error, '/data/jobs/1/upload');
    expect(httpError.status).toBe(422);
    expect(httpError.code).toBe(code);
    expect(httpError.message).toBe('Zip archive scan.zip is rejected.');
  });
});
