import { describe, expect, it } from 'vitest';

import { comparePredictors } from './compare-predictors.ts';
import { EvalInputError } from './errors.ts';
import { BUILT_IN_STRATA, MISSING_LEVEL, selectStrata, sortLevels } from './strata.ts';

function levelOf(name: string, metadata: Record<string, string>): string {
  return BUILT_IN_STRATA.find((stratum) => stratum.name === name)!.levelOf(metadata);
}

describe('sortLevels', () => {
  const stratum = (name: string) => BUILT_IN_STRATA.find((definition) => definition.name === name)!;

  it('age bands from young to old', () => {
    const levels = ['>=75 y', MISSING_LEVEL, '60-74 y', '<40 y', '40-59 y'];
    expect(sortLevels(stratum('age_band'), levels)).toEqual([
      '<40 y',
      '40-59 y',
      '60-74 y',
      '>=75 y',
      MISSING_LEVEL,
    ]);
  });

  it('raw values in natural order', () => {
    const [site] = selectStrata(['site'], ['site'], 'labels.csv');
    const levels = ['site10', MISSING_LEVEL, 'site2', 'site1'];
    expect(sortLevels(site, levels)).toEqual(['site1', 'site2', 'site10', MISSING_LEVEL]);
  });
});

describe('built-in strata', () => {
  it('age bands at their boundaries', () => {
    expect(levelOf('age_band', { age: '39.9' })).toBe('<40 y');
    expect(levelOf('age_band', { age: '40' })).toBe('40-59 y');
    expect(levelOf('age_band', { age: '74' })).toBe('60-74 y');
    expect(levelOf('age_band', { age: '75' })).toBe('>=75 y');
    expect(levelOf('age_band', { age: '' })).toBe(MISSING_LEVEL);
  });

  it('BMI classes from weight and height', () => {
    // 1.80 m: 18.5 kg/m² is 59.94 kg, 25 is 81 kg and 30 is 97.2 kg.
    expect(levelOf('bmi_class', { weight_kg: '59', height_cm: '180' })).toBe('underweight <18.5');
    expect(levelOf('bmi_class', { weight_kg: '80.9', height_cm: '180' })).toBe('normal 18.5-25');
    expect(levelOf('bmi_class', { weight_kg: '81', height_cm: '180' })).toBe('overweight 25-30');
    expect(levelOf('bmi_class', { weight_kg: '97.2', height_cm: '180' })).toBe('obese >=30');
    expect(levelOf('bmi_class', { weight_kg: '80', height_cm: '' })).toBe(MISSING_LEVEL);
  });

  it('sex and slice thickness', () => {
    expect(levelOf('sex', { sex: 'female' })).toBe('F');
    expect(levelOf('sex', { sex: 'x' })).toBe(MISSING_LEVEL);
    expect(levelOf('slice_thickness_band', { slice_thickness_mm: '1' })).toBe('<1.25 mm');
    expect(levelOf('slice_thickness_band', { slice_thickness_mm: '2.5' })).toBe('>=2.5 mm');
  });
});

describe('selectStrata', () => {
  it('keeps strata whose columns exist and adds extra columns', () => {
    const names = selectStrata(['sex', 'weight_kg', 'site'], ['site'], 'labels.csv').map(
      (stratum) => stratum.name,
    );
    expect(names).toEqual(['sex', 'site']);
  });

  it('BAD CALL - extra column not in manifest', () => {
    const call = () => selectStrata(['sex'], ['site'], 'labels.csv');
    expect(call).toThrow(EvalInputError);
    expect(call).toThrow(expect.objectContaining({ code: 'EVAL_COLUMN_MISSING', column: 'site' }));
  });
});

describe('comparePredictors', () => {
  it('paired MAE difference by hand', () => {
    // Model errors 1 and 1, other errors 4 and 3: MAE 1 against 3.5.
    const result = comparePredictors('model', [20, 22], 'other', [25, 18], [21, 21], {
      resamples: 100,
    });
    expect(result.mae.estimate).toBe(1);
    expect(result.maeAgainst.estimate).toBe(3.5);
    expect(result.maeDifference.estimate).toBe(-2.5);
    expect(result.maeDifference.upper).toBeLessThan(0);
  });

  it('BAD CALL - lengths differ', () => {
    expect(() => comparePredictors('model', [1, 2], 'other', [1], [1, 2])).toThrow(RangeError);
  });
});
