import { describe, expect, it } from 'vitest';
import * as explain from './index.ts';

describe('package barrel', () => {
  it('exports every public function', () => {
    const expected = [
      'slidingWindowOcclusion',
      'imageSpacePatchOcclusion',
      'embeddingSpacePatchOcclusion',
      'batchAggregator',
      'zoneShapley',
      'deletionCurve',
      'insertionCurve',
      'mapPatchValuesToVolume',
      'zoneSums',
      'isExplainError',
    ];
    for (const name of expected) {
      expect(typeof (explain as Record<string, unknown>)[name], name).toBe('function');
    }
    expect(explain.MAX_SHAPLEY_PLAYERS).toBe(16);
  });
});
