import { InputError } from '@dlco/preprocess';
import { describe, expect, it } from 'vitest';

import { EXIT_FAILURE, EXIT_INPUT_ERROR, reportError } from './errors.ts';
import { OutputPathError } from './output-path.ts';

describe('reportError', () => {
  it('prints the code of an input error', () => {
    let output = '';

    const status = reportError(new InputError('INPUT_NOT_HU', 'values look unscaled'), (text) => {
      output += text;
    });

    expect(status).toBe(EXIT_INPUT_ERROR);
    expect(output).toBe('error [INPUT_NOT_HU]: values look unscaled\n');
  });

  it('prints the message of any other error', () => {
    let output = '';

    const status = reportError(new Error('disk full'), (text) => {
      output += text;
    });

    expect(status).toBe(EXIT_FAILURE);
    expect(output).toBe('error: disk full\n');
  });

  it('treats an output path error as bad input', () => {
    let output = '';

    const error = new OutputPathError('/proc/out', "cannot write --out '/proc/out'");
    const status = reportError(error, (text) => {
      output += text;
    });

    expect(status).toBe(EXIT_INPUT_ERROR);
    expect(output).toBe("error [OUTPUT_PATH_INVALID]: cannot write --out '/proc/out'\n");
  });
});
