import { gliDlco } from '@dlco/reference';
import { describe, expect, it } from 'vitest';

import {
  checkSubjectMetadata,
  metadataFeatureValues,
  SUBJECT_FIELD_FLAGS,
  type SubjectMetadata,
} from './metadata.ts';

const SUBJECT: SubjectMetadata = { ageYears: 60, sex: 'F', heightCm: 160, weightKg: 64 };

function messageOf(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    return (error as Error).message;
  }
  return '';
}

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

describe('gli_dlco_predicted feature', () => {
  it('equals the GLI predicted DLCO', () => {
    const values = metadataFeatureValues(SUBJECT);
    const reference = gliDlco({ ageYears: 60, sex: 'F', heightCm: 160 });
    expect(values.gli_dlco_predicted).toBe(reference.predicted);
    expect(values.gli_dlco_predicted).toBeGreaterThan(10);
    expect(values.gli_dlco_predicted).toBeLessThan(40);
  });

  it('ignores haemoglobin', () => {
    const values = metadataFeatureValues({ ...SUBJECT, hbGdl: 9 });
    const standard = gliDlco({ ageYears: 60, sex: 'F', heightCm: 160 }).predicted;
    const corrected = gliDlco({ ageYears: 60, sex: 'F', heightCm: 160, hbGdl: 9 }).predicted;
    expect(values.gli_dlco_predicted).toBe(standard);
    expect(values.gli_dlco_predicted).not.toBeCloseTo(corrected, 3);
  });

  it('follows sex and height', () => {
    const male = metadataFeatureValues({ ...SUBJECT, sex: 'M', heightCm: 185 });
    const reference = gliDlco({ ageYears: 60, sex: 'M', heightCm: 185 });
    expect(male.gli_dlco_predicted).toBe(reference.predicted);
    const female = metadataFeatureValues(SUBJECT);
    expect(male.gli_dlco_predicted).toBeGreaterThan(female.gli_dlco_predicted);
  });

  it('is NaN at age 90', () => {
    expect(() => gliDlco({ ageYears: 90, sex: 'F', heightCm: 160 })).toThrow();
    expect(metadataFeatureValues({ ...SUBJECT, ageYears: 90 }).gli_dlco_predicted).toBeNaN();
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

describe('checkSubjectMetadata messages', () => {
  it.each([
    ['height in metres', { heightCm: 1.75 }, '--height 1.75 is outside', 'looks like metres', '175'],
    ['height in mm', { heightCm: 1750 }, '--height 1750 is outside', 'looks like mm', '175'],
    ['weight in grams', { weightKg: 80000 }, '--weight 80000 is outside', 'looks like grams', '80'],
    ['age in months', { ageYears: 720 }, '--age 720 is outside', 'looks like months', '60'],
    ['haemoglobin in g/L', { hbGdl: 140 }, '--hb 140 is outside', 'looks like g/L', '14'],
  ])('suggests the unit for %s', (_, change, range, unit, suggestion) => {
    const message = messageOf(() =>
      checkSubjectMetadata({ ...SUBJECT, ...change }, SUBJECT_FIELD_FLAGS),
    );

    expect(message).toContain(range);
    expect(message).toContain(unit);
    expect(message).toMatch(new RegExp(`give ${suggestion}\\.$`));
  });

  it('asks to check the unit without a likely mistake', () => {
    const message = messageOf(() => checkSubjectMetadata({ ...SUBJECT, heightCm: 400 }));

    expect(message).toBe('height 400 is outside 50 to 250 cm; check that height is in cm.');
  });

  it.each([
    ['age', { ageYears: 0 }, 'ageYears'],
    ['height', { heightCm: 1.6 }, 'heightCm'],
    ['weight', { weightKg: Number.NaN }, 'weightKg'],
    ['haemoglobin', { hbGdl: 140 }, 'hbGdl'],
    ['pack-years', { packYears: -1 }, 'packYears'],
    ['carboxyhaemoglobin', { cohbPercent: 80 }, 'cohbPercent'],
  ])('names %s without the internal field name', (label, change, field) => {
    const message = messageOf(() => checkSubjectMetadata({ ...SUBJECT, ...change }));

    expect(message.startsWith(`${label} `)).toBe(true);
    expect(message).not.toContain(field);
  });
});
