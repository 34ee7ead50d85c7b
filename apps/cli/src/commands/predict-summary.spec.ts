import { DEFICIT_DEFINITION, MODEL_DEFICIT_DEFINITION, type PredictionResult } from '@dlco/model';
import { describe, expect, it } from 'vitest';

import { formatPredictionSummary } from './predict-summary.ts';

function region(zone: string, shapley?: number) {
  return {
    zone,
    lungVolumeMl: 500,
    contributionMlMinMmHg: 2,
    expectedMlMinMmHg: 2.5,
    deficitMlMinMmHg: 0.5,
    ...(shapley === undefined ? {} : { shapleyMlMinMmHg: shapley }),
  };
}

function makeResult(overrides: Partial<PredictionResult['model']> = {}, shapley = false) {
  return {
    input: { fileName: 'scan.nii.gz', format: 'nifti', size: [4, 4, 4], spacingMm: [1.6, 1.6, 5] },
    dlco: {
      unit: 'ml/min/mmHg',
      estimate: 20,
      lower: 15,
      upper: 25,
      intervalCoverage: 0.95,
      sigma: 2.5,
      predicted: 25,
      lln: 19,
      percentPredicted: 80,
      zScore: -1.2,
      reference: { hbCorrected: false, hbGdl: null },
    },
    deficit: { definition: '', totalMlMinMmHg: 5 },
    regions: [region('right-upper-rind', shapley ? -0.02 : undefined)],
    patches: [],
    baseline: { method: 'ols', estimateMlMinMmHg: 21, missing: [] },
    qct: { wholeLung: null, table: null },
    explanations: {},
    model: {
      id: 'dlco-ct-demo',
      version: '0.1.0+abc',
      trainedOn: '105 simulated scans, no real patients',
      trainingCohort: null,
      heldOutMetrics: {
        test: { n: 22, coverage95: 0.6818, modelMaeMlMinMmHg: 3.375, baselineMaeMlMinMmHg: 2.167 },
        val: { n: 23, coverage95: 0.826, modelMaeMlMinMmHg: 2.11, baselineMaeMlMinMmHg: 1.69 },
      },
      pooling: 'additive',
      executionProvider: 'cpu',
      limitations: [],
      ...overrides,
    },
    preprocessing: { params: { workingSpacingMm: 2 }, lungVolumeMl: 500, droppedLungFraction: 0 },
    maps: { map: { file: 'map.nii.gz', quantity: 'deficit', unit: 'ml/min/mmHg per mL of lung' } },
    warnings: [],
  } as unknown as PredictionResult;
}

describe('formatPredictionSummary', () => {
  it('labels the interval nominal with held-out coverage', () => {
    const summary = formatPredictionSummary(makeResult());
    expect(summary).toContain(
      'nominal 95 % interval 15.00 to 25.00; held-out coverage 68 %)',
    );
    expect(summary).not.toMatch(/\(95 % interval/);
  });

  it('prints the held-out MAE of model and baseline', () => {
    const summary = formatPredictionSummary(makeResult());
    expect(summary).toContain(
      'Held-out MAE: model 3.38, baseline 2.17 ml/min/mmHg (model card, 22 test scans)',
    );
  });

  it('falls back to val metrics', () => {
    const heldOutMetrics = {
      val: { n: 23, coverage95: 0.826, modelMaeMlMinMmHg: 2.11, baselineMaeMlMinMmHg: 1.69 },
    };
    const summary = formatPredictionSummary(makeResult({ heldOutMetrics }));
    expect(summary).toContain('held-out coverage 83 %');
    expect(summary).toContain('(model card, 23 val scans)');
  });

  it('says when the card has no metrics', () => {
    const summary = formatPredictionSummary(makeResult({ heldOutMetrics: null }));
    expect(summary).toContain('held-out coverage not reported in the model card');
    expect(summary).not.toContain('Held-out MAE');
  });

  it('prints the training data line', () => {
    const summary = formatPredictionSummary(makeResult());
    expect(summary).toContain('trained on 105 simulated scans, no real patients');
  });

  it('explains the Shapley column', () => {
    const summary = formatPredictionSummary(makeResult({}, true));
    expect(summary).toContain("Shapley = the zone's Shapley value against the healthy reference");
    expect(summary).toContain('negative =');
  });

  it('leaves out the Shapley note without the column', () => {
    expect(formatPredictionSummary(makeResult())).not.toContain('Shapley =');
  });
});

describe('formatPredictionSummary deficit definition', () => {
  function totalRow(summary: string): string[] {
    const row = summary.split('\n').find((line) => line.startsWith('total'));
    return row!.trim().split(/\s+/);
  }

  it('labels lung-volume shares', () => {
    const result = makeResult();
    result.deficit.definition = DEFICIT_DEFINITION;
    const summary = formatPredictionSummary(result);
    expect(summary).toContain("expected = the zone's lung-volume share of predicted;");
    expect(totalRow(summary)).toEqual(['total', '500', '20.00', '25.00', '5.00']);
  });

  it("labels the model's expectation", () => {
    const result = makeResult();
    result.deficit = { definition: MODEL_DEFICIT_DEFINITION, totalMlMinMmHg: 1 };
    result.regions.push({ ...result.regions[0], zone: 'left-upper-rind' });
    const summary = formatPredictionSummary(result);
    expect(summary).toContain("expected = the model's healthy contribution of the zone's patches;");
    expect(summary).not.toContain('share of predicted');
    expect(totalRow(summary)).toEqual(['total', '1000', '20.00', '5.00', '1.00']);
  });
});
