import { describe, expect, it } from 'vitest';
import { cotesHbFactor } from './haemoglobin.ts';

describe('cotesHbFactor', () => {
  it('adult male at Hb 14.6 g/dL is 1', () => {
    expect(cotesHbFactor(14.6, 'M', 40)).toBeCloseTo(1, 12);
  });

  it('adult female at Hb 13.4 g/dL is 1', () => {
    expect(cotesHbFactor(13.4, 'F', 40)).toBeCloseTo(1, 12);
  });

  it('male at 15 years uses adult constant', () => {
    expect(cotesHbFactor(12, 'M', 15)).toBeCloseTo((1.7 * 12) / (10.22 + 12), 12);
  });

  it('male under 15 years uses child constant', () => {
    expect(cotesHbFactor(12, 'M', 14.75)).toBeCloseTo((1.7 * 12) / (9.38 + 12), 12);
  });

  it('low Hb lowers and high Hb raises the factor', () => {
    expect(cotesHbFactor(10, 'M', 50)).toBeCloseTo(0.8408, 4);
    expect(cotesHbFactor(17, 'M', 50)).toBeGreaterThan(1);
    expect(cotesHbFactor(9, 'F', 50)).toBeLessThan(1);
  });
});
