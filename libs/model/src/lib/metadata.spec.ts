import { describe, expect, it } from 'vitest';

import { checkSubjectMetadata, metadataFeatureValues, type SubjectMetadata } from './metadata.ts';

const SUBJECT: SubjectMetadata = { ageYears: 60, sex: 'F', heightCm: 160, weightKg: 64 };

function codeOf(run: () => unknown): string | undefined {
  try {
    run();
  } catch (error) {
    return (error as { code?: string }).code;
  }
  return undefined;
}

describe('metadataFeatureValues', () => {
  it('computes BMI and one-hot smoking', () => {
    const values = metadataFeatureValues({ ...SUBJECT, smoking: 'current', packYears: 20 });
    expect(values.bmi).toBeCloseTo(25, 10);
    expect(values.sex_male).toBe(0);
    expect([values.smoking_never, values.smoking_former, values.smoking_current]).toEqual([
      0, 0, 1,
    ]);
    expect(values.pack_years).toBe(20);
  });

  it('marks missing values as NaN', () => {
    const values = metadataFeatureValues(SUBJECT);
    expect(values.smoking_never).toBeNaN();
    expect(values.pack_years).toBeNaN();
    expect(values.hb_g_dl).toBeNaN();
  });
});

describe('checkSubjectMetadata', () => {
  it('sets pack-years of a never-smoker to 0', () => {
    expect(checkSubjectMetadata({ ...SUBJECT, smoking: 'never' }).packYears).toBe(0);
  });

  it.each([
    ['height in metres', { heightCm: 1.6 }],
    ['negative weight', { weightKg: -3 }],
    ['age as text', { ageYears: '60' as unknown as number }],
    ['unknown sex', { sex: 'X' as never }],
    ['unknown smoking', { smoking: 'sometimes' as never }],
    ['haemoglobin in g/L', { hbGdl: 140 }],
    ['never-smoker with pack-years', { smoking: 'never', packYears: 10 } as const],
  ])('EXPECTED FAILURE - %s', (_, change) => {
    expect(codeOf(() => checkSubjectMetadata({ ...SUBJECT, ...change }))).toBe('METADATA_INVALID');
  });
});
