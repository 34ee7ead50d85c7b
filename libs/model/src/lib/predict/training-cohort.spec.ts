import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { acquisitionWarnings, describeTrainingCohort, heldOutMetrics } from './training-cohort.ts';

const DEMO_CARD = JSON.parse(
  readFileSync(join(import.meta.dirname, '../../../../../models/demo/model-card.json'), 'utf8'),
) as { trainingCohort: unknown; metrics: unknown };

const IDENTITY = [1, 0, 0, 0, 1, 0, 0, 0, 1];

describe('describeTrainingCohort', () => {
  it('says the demo model saw simulated scans', () => {
    const line = describeTrainingCohort(DEMO_CARD.trainingCohort);
    expect(line).toBe(
      '280 simulated scans (dlco_train.simulator, one scanner profile: beta-thick-5.0, 5 mm ' +
        'slices), no real patients',
    );
  });

  it('says when the card has no data source', () => {
    const line = describeTrainingCohort({ train: { scans: 3, subjects: 2 } });
    expect(line).toContain('3 training scans of 2 subjects');
    expect(line).toContain('does not say whether they were real or simulated');
  });

  it('handles a card without a cohort', () => {
    expect(describeTrainingCohort(null)).toBe('not described in the model card');
  });
});

describe('acquisitionWarnings', () => {
  it('accepts the demo scan spacing', () => {
    const geometry = { spacingMm: [1.6, 1.6, 5], direction: IDENTITY };
    expect(acquisitionWarnings(DEMO_CARD.trainingCohort, geometry)).toEqual([]);
  });

  it('warns on thin slices', () => {
    const geometry = { spacingMm: [1.6, 1.6, 1.25], direction: IDENTITY };
    const warnings = acquisitionWarnings(DEMO_CARD.trainingCohort, geometry);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('slice spacing: 1.25 mm, against 5 mm');
    expect(warnings[0]).toContain('less reliable');
  });

  it('warns on a smaller pixel spacing', () => {
    const geometry = { spacingMm: [0.7, 0.7, 5], direction: IDENTITY };
    const warnings = acquisitionWarnings(DEMO_CARD.trainingCohort, geometry);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('pixel spacing: 0.7 mm × 0.7 mm, against 1.6 mm');
  });

  it('finds the slice axis from the direction', () => {
    // Voxel axis 0 runs superior, so its 5 mm spacing is the slice spacing.
    const sagittalFirst = [0, 1, 0, 0, 0, 1, 1, 0, 0];
    const geometry = { spacingMm: [5, 1.6, 1.6], direction: sagittalFirst };
    expect(acquisitionWarnings(DEMO_CARD.trainingCohort, geometry)).toEqual([]);
  });

  it('says when the card has no acquisition range', () => {
    const geometry = { spacingMm: [1, 1, 1], direction: IDENTITY };
    const warnings = acquisitionWarnings({ train: { scans: 1 } }, geometry);
    expect(warnings[0]).toContain('does not record the acquisition range');
  });
});

describe('heldOutMetrics', () => {
  it('copies the demo card test and val figures', () => {
    const metrics = heldOutMetrics(DEMO_CARD.metrics);
    // The card's own figures, read by path here and by heldOutMetrics' own code there.
    const raw = DEMO_CARD.metrics as Record<
      'test' | 'val',
      Record<'model' | 'baseline', { n: number; mae: number; coverage95?: number }>
    >;
    expect(raw.test.model.n).toBeGreaterThan(0);
    expect(metrics?.test?.n).toBe(raw.test.model.n);
    expect(metrics?.test?.coverage95).toBe(raw.test.model.coverage95);
    expect(metrics?.test?.modelMaeMlMinMmHg).toBe(raw.test.model.mae);
    expect(metrics?.test?.baselineMaeMlMinMmHg).toBe(raw.test.baseline.mae);
    expect(metrics?.val?.coverage95).toBe(raw.val.model.coverage95);
    expect(metrics?.val?.modelMaeMlMinMmHg).not.toBe(metrics?.test?.modelMaeMlMinMmHg);
  });

  it('returns null without metrics', () => {
    expect(heldOutMetrics(null)).toBeNull();
  });
});
