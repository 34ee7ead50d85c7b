import { describe, expect, it } from 'vitest';

import { parseBaseline, scoreBaseline, wholeLungQct } from './baseline.ts';
import { isModelError } from './errors.ts';

const WHOLE = { volumeMl: 4500, meanHu: -860, laa950Percent: 12, haaPercent: 6, perc15Hu: -940 };
const SUBJECT = { ageYears: 60, sex: 'F', heightCm: 165, weightKg: 70 } as const;

const BASELINE = parseBaseline(
  {
    formatVersion: 1,
    intercept: 2,
    features: [
      { name: 'laa950_percent', unit: '%', coefficient: -0.5 },
      { name: 'lung_volume_ml', unit: 'mL', coefficient: 0.004 },
      { name: 'mean_lung_density_hu', unit: 'HU', coefficient: 0.01 },
      { name: 'age', unit: 'years', coefficient: -0.1 },
      { name: 'sex_male', unit: '1 male', coefficient: 3 },
    ],
    residualSd: 4,
    trainingN: 100,
  },
  'baseline.json',
);

describe('wholeLungQct', () => {
  it('reads the whole row of a QCT table', () => {
    expect(wholeLungQct({ rows: [{ region: 'left' }, { region: 'whole', ...WHOLE }] })).toEqual({
      volumeMl: 4500,
      meanHu: -860,
      laa950Percent: 12,
      haaPercent: 6,
    });
  });

  it('reads the whole entry of bag.json qct', () => {
    expect(wholeLungQct({ whole: WHOLE })?.meanHu).toBe(-860);
  });

  it('returns undefined without a whole-lung row', () => {
    expect(wholeLungQct({ rows: [{ region: 'left' }] })).toBeUndefined();
    expect(wholeLungQct(null)).toBeUndefined();
  });
});

describe('scoreBaseline', () => {
  it('adds the intercept and every term', () => {
    const estimate = scoreBaseline(BASELINE, wholeLungQct({ whole: WHOLE }), SUBJECT);
    expect(estimate.missing).toEqual([]);
    expect(estimate.estimateMlMinMmHg).toBeCloseTo(2 - 6 + 18 - 8.6 - 6 + 0, 10);
    expect(estimate.residualSdMlMinMmHg).toBe(4);
  });

  it('names missing QCT values', () => {
    const estimate = scoreBaseline(BASELINE, undefined, SUBJECT);
    expect(estimate.estimateMlMinMmHg).toBeNull();
    expect(estimate.missing).toEqual(['laa950_percent', 'lung_volume_ml', 'mean_lung_density_hu']);
  });

  it('EXPECTED FAILURE - unknown format version', () => {
    let error: unknown;
    try {
      parseBaseline({ formatVersion: 2, intercept: 0, features: [] }, 'baseline.json');
    } catch (caught) {
      error = caught;
    }
    expect(isModelError(error)).toBe(true);
    expect((error as { code: string }).code).toBe('MODEL_CARD_INVALID');
  });
});
