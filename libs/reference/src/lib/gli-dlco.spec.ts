import { describe, expect, it } from 'vitest';
import { ReferenceInputError } from './errors.ts';
import { gliDlco } from './gli-dlco.ts';
import { percentPredicted, zScore } from './lms.ts';

function captureError(action: () => unknown): ReferenceInputError {
  try {
    action();
  } catch (error) {
    expect(error).toBeInstanceOf(ReferenceInputError);
    return error as ReferenceInputError;
  }
  throw new Error('expected a ReferenceInputError, but no error was thrown');
}

describe('gliDlco', () => {
  // Expected values: GLI 2017 DLCO equations evaluated from the pyspiro 1.0.0 tables.
  it('male 50 y 175 cm', () => {
    const reference = gliDlco({ ageYears: 50, sex: 'M', heightCm: 175 });
    expect(reference.predicted).toBeCloseTo(28.43, 2);
    expect(reference.lln).toBeCloseTo(21.74, 2);
    expect(reference.m).toBe(reference.predicted);
    expect(reference.l).toBeCloseTo(0.39482, 5);
    expect(reference.uln).toBeGreaterThan(reference.predicted);
    expect(reference.hbCorrection.applied).toBe(false);
  });

  it('male 50 y 175 cm, measured 20', () => {
    const reference = gliDlco({ ageYears: 50, sex: 'M', heightCm: 175 });
    expect(zScore(20, reference)).toBeCloseTo(-2.12, 2);
    expect(percentPredicted(20, reference)).toBeCloseTo(70.3, 1);
  });

  it('female 50 y 163 cm', () => {
    const reference = gliDlco({ ageYears: 50, sex: 'F', heightCm: 163 });
    expect(reference.predicted).toBeCloseTo(20.71, 2);
    expect(reference.lln).toBeCloseTo(16.17, 2);
    expect(reference.l).toBeCloseTo(0.2416, 4);
  });

  it('LLN has z-score -1.645', () => {
    const reference = gliDlco({ ageYears: 37.3, sex: 'F', heightCm: 158 });
    expect(zScore(reference.lln, reference)).toBeCloseTo(-1.645, 9);
    expect(zScore(reference.uln, reference)).toBeCloseTo(1.645, 9);
    expect(zScore(reference.predicted, reference)).toBeCloseTo(0, 12);
  });

  it('interpolates splines between table rows', () => {
    const below = gliDlco({ ageYears: 50, sex: 'M', heightCm: 175 }).predicted;
    const between = gliDlco({ ageYears: 50.125, sex: 'M', heightCm: 175 }).predicted;
    const above = gliDlco({ ageYears: 50.25, sex: 'M', heightCm: 175 }).predicted;
    expect(between).toBeLessThan(below);
    expect(between).toBeGreaterThan(above);
  });

  it('accepts both ends of the age range', () => {
    expect(gliDlco({ ageYears: 5, sex: 'F', heightCm: 110 }).predicted).toBeGreaterThan(0);
    expect(gliDlco({ ageYears: 85, sex: 'M', heightCm: 170 }).predicted).toBeGreaterThan(0);
  });

  it('BAD CALL - age below 5 years', () => {
    const error = captureError(() => gliDlco({ ageYears: 4.9, sex: 'M', heightCm: 110 }));
    expect(error.code).toBe('REFERENCE_OUT_OF_RANGE');
    expect(error.field).toBe('ageYears');
    expect(error.value).toBe(4.9);
    expect(error.validRange).toEqual({ min: 5, max: 85 });
    expect(error.message).toContain('5-85 years');
  });

  it('BAD CALL - age above 85 years', () => {
    const error = captureError(() => gliDlco({ ageYears: 86, sex: 'F', heightCm: 160 }));
    expect(error.code).toBe('REFERENCE_OUT_OF_RANGE');
    expect(error.field).toBe('ageYears');
    expect(error.message).toMatch(/^age 86 years is outside/);
  });

  it('BAD CALL - height in metres', () => {
    const error = captureError(() => gliDlco({ ageYears: 50, sex: 'M', heightCm: 1.75 }));
    expect(error.code).toBe('REFERENCE_OUT_OF_RANGE');
    expect(error.field).toBe('heightCm');
    expect(error.validRange).toEqual({ min: 90, max: 230 });
    expect(error.message).toContain('Check the unit');
  });

  it('BAD CALL - height in millimetres', () => {
    const error = captureError(() => gliDlco({ ageYears: 50, sex: 'M', heightCm: 1750 }));
    expect(error.code).toBe('REFERENCE_OUT_OF_RANGE');
    expect(error.field).toBe('heightCm');
  });

  it('BAD CALL - invalid sex', () => {
    const error = captureError(() =>
      gliDlco({ ageYears: 50, sex: 'male' as unknown as 'M', heightCm: 175 }),
    );
    expect(error.code).toBe('REFERENCE_INVALID_INPUT');
    expect(error.field).toBe('sex');
    expect(error.message).toContain("'M' or 'F'");
  });

  it.each([
    ['NaN age', { ageYears: Number.NaN, heightCm: 175 }, 'ageYears'],
    ['negative age', { ageYears: -50, heightCm: 175 }, 'ageYears'],
    ['missing age', { ageYears: undefined as unknown as number, heightCm: 175 }, 'ageYears'],
    ['infinite height', { ageYears: 50, heightCm: Number.POSITIVE_INFINITY }, 'heightCm'],
    ['negative height', { ageYears: 50, heightCm: -175 }, 'heightCm'],
    ['zero height', { ageYears: 50, heightCm: 0 }, 'heightCm'],
  ])('BAD CALL - %s', (_name, input, field) => {
    const error = captureError(() => gliDlco({ sex: 'M', ...input }));
    expect(error.code).toBe('REFERENCE_INVALID_INPUT');
    expect(error.field).toBe(field);
  });

  it.each([
    ['NaN', Number.NaN],
    ['negative', -20],
    ['zero', 0],
  ])('BAD CALL - %s measured value', (_name, measured) => {
    const reference = gliDlco({ ageYears: 50, sex: 'M', heightCm: 175 });
    const zError = captureError(() => zScore(measured, reference));
    expect(zError.code).toBe('REFERENCE_INVALID_INPUT');
    expect(zError.field).toBe('measured');
    const percentError = captureError(() => percentPredicted(measured, reference));
    expect(percentError.code).toBe('REFERENCE_INVALID_INPUT');
  });
});

describe('gliDlco haemoglobin correction', () => {
  const base = { ageYears: 50, sex: 'M', heightCm: 175 } as const;

  it('Hb 14.6 g/dL male leaves prediction unchanged', () => {
    const plain = gliDlco(base);
    const corrected = gliDlco({ ...base, hbGdl: 14.6 });
    expect(corrected.hbCorrection.applied).toBe(true);
    expect(corrected.predicted).toBeCloseTo(plain.predicted, 10);
  });

  it('Hb 10 g/dL male lowers prediction and limits', () => {
    const plain = gliDlco(base);
    const corrected = gliDlco({ ...base, hbGdl: 10 });
    const factor = (1.7 * 10) / (10.22 + 10);
    expect(corrected.hbCorrection).toEqual({ applied: true, hbGdl: 10, factor });
    expect(corrected.predicted).toBeCloseTo(plain.predicted * factor, 10);
    expect(corrected.predicted).toBeCloseTo(23.91, 2);
    expect(corrected.lln).toBeCloseTo(plain.lln * factor, 10);
    expect(corrected.uln).toBeCloseTo(plain.uln * factor, 10);
    expect(corrected.s).toBe(plain.s);
    expect(corrected.l).toBe(plain.l);
  });

  it('Hb correction raises z-score of anaemic subject', () => {
    const plain = gliDlco(base);
    const corrected = gliDlco({ ...base, hbGdl: 10 });
    expect(zScore(20, corrected)).toBeGreaterThan(zScore(20, plain));
    expect(percentPredicted(20, corrected)).toBeGreaterThan(percentPredicted(20, plain));
  });

  it('BAD CALL - Hb in g/L', () => {
    const error = captureError(() => gliDlco({ ...base, hbGdl: 146 }));
    expect(error.code).toBe('REFERENCE_OUT_OF_RANGE');
    expect(error.field).toBe('hbGdl');
    expect(error.message).toContain('divide a value in g/L by 10');
  });

  it('BAD CALL - NaN Hb', () => {
    const error = captureError(() => gliDlco({ ...base, hbGdl: Number.NaN }));
    expect(error.code).toBe('REFERENCE_INVALID_INPUT');
    expect(error.field).toBe('hbGdl');
  });
});
