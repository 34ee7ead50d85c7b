import { describe, expect, it } from 'vitest';

import type { Prediction } from './prediction-types.ts';
import { overlayRenderOptions } from './write-overlay.ts';

function resultWith(quantity: string): Prediction['result'] {
  return {
    dlco: { estimate: 20 },
    input: { fileName: 'scan.nii.gz' },
    model: { id: 'dlco-ct-demo', version: '0.1.0+abc' },
    maps: { map: { file: 'map.nii.gz', quantity, unit: 'ml/min/mmHg per mL of lung' } },
  } as unknown as Prediction['result'];
}

describe('overlayRenderOptions', () => {
  it('uses the per-mL unit of map.nii.gz', () => {
    const options = overlayRenderOptions(resultWith('deficit (expected - contribution)'));
    expect(options.mapUnit).toBe('per-millilitre');
    expect(options.mapLabel).toContain('DLCO deficit per mL of lung');
  });

  it('names unanalysed lung in the label', () => {
    const options = overlayRenderOptions(resultWith('deficit (expected - contribution)'));
    expect(options.mapLabel).toContain('no deficit, or outside every patch (not analysed)');
  });

  it('labels a contribution map', () => {
    const options = overlayRenderOptions(resultWith('contribution'));
    expect(options.mapLabel).toContain('DLCO contribution per mL of lung');
  });

  it('hides the file name by default', () => {
    const result = resultWith('contribution');
    expect(overlayRenderOptions(result).title).toBe('DLCO 20.0 ml/min/mmHg');
    expect(overlayRenderOptions(result, { showFileName: true }).title).toContain('scan.nii.gz');
  });
});
