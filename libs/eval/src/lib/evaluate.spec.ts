import { gliDlco } from '@dlco/reference';
import { describe, expect, it } from 'vitest';

import { EvalInputError } from './errors.ts';
import { evaluatePredictions } from './evaluate.ts';
import type { LabelRecord, LabelsFile } from './read-labels.ts';
import type { PredictionRecord, PredictionsFile } from './read-predictions.ts';

interface SubjectSpec {
  measured: number;
  estimate: number;
  baseline?: number;
  metadata?: Record<string, string>;
}

const ADULT = { age: '50', sex: 'M', height_cm: '175' };

function prediction(id: string, estimate: number, baseline: number | null): PredictionRecord {
  return {
    id,
    status: 'ok',
    estimate,
    lower: null,
    upper: null,
    predicted: null,
    lln: null,
    zScore: null,
    percentPredicted: null,
    baselineEstimate: baseline,
    error: '',
  };
}

function cohort(specs: SubjectSpec[]): { predictions: PredictionsFile; labels: LabelsFile } {
  const records: LabelRecord[] = specs.map((spec, i) => ({
    id: `s${i}`,
    dlco: spec.measured,
    metadata: spec.metadata ?? ADULT,
  }));
  return {
    predictions: {
      path: 'predictions.csv',
      duplicateIds: [],
      records: specs.map((spec, i) => prediction(`s${i}`, spec.estimate, spec.baseline ?? null)),
    },
    labels: {
      path: 'labels.csv',
      metadataColumns: Object.keys(specs[0].metadata ?? ADULT),
      records,
    },
  };
}

const OPTIONS = { resamples: 200, seed: 11 };

describe('evaluatePredictions classification', () => {
  // For a 50-year-old man of 175 cm, GLI 2017 predicts about 28.43 with LLN about 21.74.
  const measured = [10, 14, 18, 28, 30, 32, 26, 12];
  const perfect = cohort(measured.map((value) => ({ measured: value, estimate: value })));

  it('perfect estimates classify perfectly', () => {
    const report = evaluatePredictions(perfect.predictions, perfect.labels, OPTIONS);
    const [lln, below80, below60] = report.classification.thresholds;
    expect(gliDlco({ ageYears: 50, sex: 'M', heightCm: 175 }).lln).toBeCloseTo(21.74, 1);
    expect(lln.threshold).toBe('belowLln');
    expect(lln.positives).toBe(4);
    expect(lln.auc.estimate).toBe(1);
    expect(lln.sensitivity.estimate).toBe(1);
    expect(lln.specificity.estimate).toBe(1);
    expect(below80.positives).toBe(4);
    expect(below60.positives).toBe(3);
    expect(below60.ppv.estimate).toBe(1);
  });

  it('subject without sex is excluded with a reason', () => {
    const specs = measured.map((value) => ({ measured: value, estimate: value }));
    specs.push({ measured: 20, estimate: 20, metadata: { ...ADULT, sex: '' } } as SubjectSpec);
    const { predictions, labels } = cohort(specs);
    const report = evaluatePredictions(predictions, labels, OPTIONS);
    expect(report.classification.thresholds[0].n).toBe(8);
    expect(report.classification.excluded).toEqual([{ id: 's8', reason: "sex '' is not M or F" }]);
  });
});

describe('evaluatePredictions strata and comparisons', () => {
  // Women are off by exactly 1 and men by exactly 3; the baseline is off by 4 for everyone.
  const specs: SubjectSpec[] = [];
  for (let i = 0; i < 24; i++) {
    const sex = i % 2 === 0 ? 'F' : 'M';
    const error = (sex === 'F' ? 1 : 3) * (i % 4 < 2 ? 1 : -1);
    const measuredValue = 15 + i;
    specs.push({
      measured: measuredValue,
      estimate: measuredValue + error,
      baseline: measuredValue + 4,
      metadata: { ...ADULT, sex, site: i < 3 ? 'small' : 'large' },
    });
  }
  const { predictions, labels } = cohort(specs);
  const report = evaluatePredictions(predictions, labels, { ...OPTIONS, strata: ['site'] });

  it('sex stratum has per-level MAE and a gap', () => {
    const sex = report.strata.find((stratum) => stratum.stratum === 'sex')!;
    expect(sex.levels.map((level) => [level.level, level.n])).toEqual([
      ['F', 12],
      ['M', 12],
    ]);
    expect(sex.levels[0].mae.estimate).toBeCloseTo(1, 12);
    expect(sex.levels[1].mae.estimate).toBeCloseTo(3, 12);
    expect(sex.gap?.worstLevel).toBe('M');
    expect(sex.gap?.bestLevel).toBe('F');
    expect(sex.gap?.maeDifference.estimate).toBeCloseTo(2, 12);
    expect(sex.gap?.maeDifference.lower).toBeCloseTo(2, 12);
  });

  it('small level is flagged and leaves no gap', () => {
    const site = report.strata.find((stratum) => stratum.stratum === 'site')!;
    const small = site.levels.find((level) => level.level === 'small')!;
    expect(small.n).toBe(3);
    expect(small.tooSmall).toBe(true);
    expect(site.gap).toBeNull();
  });

  it('baseline comparison is paired', () => {
    expect(report.comparisons).toHaveLength(1);
    const [comparison] = report.comparisons;
    expect(comparison.against).toBe('baseline_estimate');
    expect(comparison.maeAgainst.estimate).toBeCloseTo(4, 12);
    expect(comparison.maeDifference.estimate).toBeCloseTo(-2, 12);
    expect(comparison.maeDifference.upper).toBeLessThan(0);
  });

  it('comparison with another predictions file', () => {
    const other = {
      name: 'other.csv',
      predictions: {
        ...predictions,
        path: 'other.csv',
        records: specs.map((spec, i) => prediction(`s${i}`, spec.measured, null)),
      },
    };
    const withOther = evaluatePredictions(predictions, labels, { ...OPTIONS, other });
    const comparison = withOther.comparisons[1];
    expect(comparison.against).toBe('other.csv');
    expect(comparison.maeAgainst.estimate).toBe(0);
    expect(comparison.maeDifference.estimate).toBeCloseTo(2, 12);
  });

  it('same seed gives the same report', () => {
    const again = evaluatePredictions(predictions, labels, { ...OPTIONS, strata: ['site'] });
    expect(again).toEqual(report);
    expect(report.seed).toBe(11);
    expect(report.resamples).toBe(200);
  });

  it('BAD CALL - unknown strata column', () => {
    const call = () => evaluatePredictions(predictions, labels, { strata: ['hospital'] });
    expect(call).toThrow(EvalInputError);
    expect(call).toThrow(expect.objectContaining({ code: 'EVAL_COLUMN_MISSING' }));
  });

  it('BAD CALL - too few subjects', () => {
    const tiny = cohort(specs.slice(0, 2));
    const call = () => evaluatePredictions(tiny.predictions, tiny.labels, OPTIONS);
    expect(call).toThrow(expect.objectContaining({ code: 'EVAL_TOO_FEW_SUBJECTS' }));
  });
});

describe('evaluatePredictions warnings', () => {
  const estimates = [21.5, 23, 19, 27.5, 17, 22];
  // The six-subject cohorts below also get the small-cohort warning, checked on its own.
  const isInputWarning = (warning: string) => !warning.includes('subjects were evaluated');

  it('none for plausible inputs', () => {
    const twentyFour = [...estimates, ...estimates, ...estimates, ...estimates];
    const { predictions, labels } = cohort(
      twentyFour.map((estimate, i) => ({ measured: estimate + 1 + i / 10, estimate })),
    );
    expect(evaluatePredictions(predictions, labels, OPTIONS).warnings).toEqual([]);
  });

  it('small cohort', () => {
    const { predictions, labels } = cohort(
      estimates.map((estimate) => ({ measured: estimate + 1, estimate })),
    );
    const warnings = evaluatePredictions(predictions, labels, OPTIONS).warnings;
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('only 6 subjects were evaluated');
  });

  it('labels in mmol/min/kPa', () => {
    const { predictions, labels } = cohort(
      estimates.map((estimate) => ({ measured: estimate / 2.986, estimate })),
    );
    const warnings = evaluatePredictions(predictions, labels, OPTIONS).warnings.filter(isInputWarning);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^labels\.csv: the dlco column looks like mmol\/min\/kPa/);
    expect(warnings[0]).toContain('1 mmol/min/kPa = 2.986 ml/min/mmHg');
  });

  it('estimates in mmol/min/kPa', () => {
    const { predictions, labels } = cohort(
      estimates.map((estimate) => ({ measured: estimate, estimate: estimate / 2.986 })),
    );
    const warnings = evaluatePredictions(predictions, labels, OPTIONS).warnings.filter(isInputWarning);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^predictions\.csv: the estimates look like mmol\/min\/kPa/);
  });

  it('implausible measured values', () => {
    const measured = [0.001, 5000, 19, 27, 17, 22];
    const { predictions, labels } = cohort(
      measured.map((value, i) => ({ measured: value, estimate: estimates[i] })),
    );
    const warnings = evaluatePredictions(predictions, labels, OPTIONS).warnings.filter(isInputWarning);
    expect(warnings).toEqual([
      'labels.csv: dlco of 2 subjects (s0, s1) is outside the plausible 2 to 80 ml/min/mmHg. ' +
        'Check the values and their unit.',
    ]);
  });

  it('repeated prediction ids', () => {
    const { predictions, labels } = cohort(
      estimates.map((estimate) => ({ measured: estimate, estimate })),
    );
    const repeated = { ...predictions, duplicateIds: ['s1'] };
    const warnings = evaluatePredictions(repeated, labels, OPTIONS).warnings.filter(isInputWarning);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('more than one row for 1 subject (s1)');
    expect(warnings[0]).toContain('The last row of each id is used');
  });

  it('other predictions cover part', () => {
    const { predictions, labels } = cohort(
      estimates.map((estimate) => ({ measured: estimate, estimate })),
    );
    const other = {
      name: 'other.csv',
      predictions: { ...predictions, path: 'other.csv', records: predictions.records.slice(0, 4) },
    };
    const report = evaluatePredictions(predictions, labels, { ...OPTIONS, other });
    expect(report.comparisons[0].n).toBe(4);
    expect(report.warnings.filter(isInputWarning)).toEqual([
      'other.csv has no ok prediction for 2 evaluated subjects (s4, s5), so the comparison ' +
        'with it uses the other 4.',
    ]);
  });
});
