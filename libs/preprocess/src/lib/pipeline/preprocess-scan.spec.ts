import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { describe, expect, it } from 'vitest';

import type { ReadScanResult } from '../io/read-scan.ts';
import type { Logger } from '../logger.ts';
import { DEFAULT_PREPROCESS_PARAMS, preprocessParamsHash } from '../params.ts';
import type { LabelVolume, Volume } from '../volume.ts';
import type { WorkingGrid } from '../geometry/working-grid.ts';
import { createPatchBag } from './create-patch-bag.ts';
import { preprocessScan } from './preprocess-scan.ts';
import type { LungSegmentation } from '../segmentation/segment-lungs.ts';
import type { PreprocessSteps } from './preprocess-steps.ts';

const REAL_DATA = join(
  dirname(fileURLToPath(import.meta.url)),
  '../../../../../../shared/data/real',
);

/** Builds a 100 x 80 x 60 scan at 1 x 1 x 2 mm: 40 HU body with two -850 HU boxes as lungs. */
function syntheticScan(): Volume {
  const size: [number, number, number] = [100, 80, 60];
  const data = new Int16Array(size[0] * size[1] * size[2]).fill(40);
  let index = 0;
  for (let k = 0; k < size[2]; k++) {
    for (let j = 0; j < size[1]; j++) {
      for (let i = 0; i < size[0]; i++, index++) {
        const inLungRows = j >= 15 && j < 65 && k >= 5 && k < 55;
        if (inLungRows && ((i >= 10 && i < 45) || (i >= 55 && i < 90))) data[index] = -850;
      }
    }
  }
  return {
    size,
    spacingMm: [1, 1, 2],
    originMm: [-50, -40, 0],
    direction: Float64Array.of(1, 0, 0, 0, 1, 0, 0, 0, 1),
    data,
  };
}

/** Labels voxels below -500 HU, right lung where x < 0 (patient right in LPS). */
function thresholdSegmentation(working: WorkingGrid, warnings: string[] = []): LungSegmentation {
  const { volume } = working;
  const data = new Uint8Array(volume.data.length);
  const nx = volume.size[0];
  for (let index = 0; index < data.length; index++) {
    const hu = volume.data[index];
    if (hu < -500 && hu > -1500) {
      const x = volume.originMm[0] + (index % nx) * volume.spacingMm[0];
      data[index] = x < 0 ? 1 : 2;
    }
  }
  const labels: LabelVolume = { ...volume, data };
  return {
    labels,
    airway: new Uint8Array(data.length),
    coverage: {
      complete: true,
      reasons: [],
      warnings: [],
      touchesTop: false,
      touchesBottom: false,
      totalVolumeMl: 0,
      sideBorderFraction: 0,
    },
    warnings,
    volumesMl: { right: 0, left: 0, total: 0 },
    separation: 'components',
  };
}

/** Replaces reading (returns `scan`) and segmentation (a threshold); zones and QCT stay real. */
function stubSteps(scan: Volume, warnings: string[] = []): Partial<PreprocessSteps> {
  return {
    readScan: async (): Promise<ReadScanResult> => ({ volume: scan, format: 'nrrd', warnings }),
    segmentLungs: (working) => thresholdSegmentation(working, ['segmentation note']),
  };
}

function recordingLogger(): { logger: Logger; messages: string[] } {
  const messages: string[] = [];
  const record = (level: string) => (_fields: Record<string, unknown>, message: string) => {
    messages.push(`${level} ${message}`);
  };
  return {
    logger: {
      debug: record('debug'),
      info: record('info'),
      warn: record('warn'),
      error: record('error'),
    },
    messages,
  };
}

describe('preprocessScan', () => {
  it('times every step', async () => {
    const result = await preprocessScan('scan.nrrd', { steps: stubSteps(syntheticScan()) });

    for (const step of [
      'read',
      'resample',
      'segment',
      'zones',
      'qct',
      'patches',
      'total',
    ] as const) {
      expect(result.timings[step]).toBeGreaterThanOrEqual(0);
    }
    expect(result.timings.total).toBeGreaterThanOrEqual(result.timings.resample);
  });

  it('resamples to the working spacing', async () => {
    const result = await preprocessScan('scan.nrrd', { steps: stubSteps(syntheticScan()) });

    expect(result.working.volume.spacingMm).toEqual([2, 2, 2]);
    expect(result.working.source.size).toEqual([100, 80, 60]);
    expect(result.segmentation.labels.size).toEqual(result.working.volume.size);
  });

  it('extracts patches covering the lungs', async () => {
    const result = await preprocessScan('scan.nrrd', { steps: stubSteps(syntheticScan()) });

    // Two lungs of 35 x 50 x 100 mm each, 350 mL together.
    expect(result.patches.lungVolumeMl).toBeGreaterThan(0.9 * 350);
    expect(result.patches.lungVolumeMl).toBeLessThan(1.1 * 350);
    expect(result.patches.count).toBeGreaterThan(0);
    expect(result.patches.droppedLungFraction).toBeLessThan(0.2);
    expect(new Set(result.patches.side)).toEqual(new Set([1, 2]));
  });

  it('merges warnings and logs through the injected logger', async () => {
    const { logger, messages } = recordingLogger();

    const result = await preprocessScan('scan.nrrd', {
      steps: stubSteps(syntheticScan(), ['read note']),
      logger,
    });

    expect(result.warnings).toEqual(['read note', 'segmentation note']);
    expect(messages).toContain('warn segmentation note');
    expect(messages).toContain('info scan preprocessed');
    expect(messages.filter((message) => message.startsWith('debug'))).toHaveLength(6);
  });

  it('returns incomplete coverage without throwing', async () => {
    const steps = stubSteps(syntheticScan());
    steps.segmentLungs = (working) => {
      const segmentation = thresholdSegmentation(working);
      segmentation.coverage = {
        ...segmentation.coverage,
        complete: false,
        reasons: ['lung touches the top slice'],
      };
      return segmentation;
    };

    const result = await preprocessScan('scan.nrrd', { steps });

    expect(result.coverage.complete).toBe(false);
    expect(result.coverage.reasons).toEqual(['lung touches the top slice']);
  });

  it('uses the given parameters', async () => {
    const params = {
      ...DEFAULT_PREPROCESS_PARAMS,
      workingSpacingMm: 4,
      patchSizeVoxels: 8,
      patchStrideVoxels: 8,
    };

    const result = await preprocessScan('scan.nrrd', { steps: stubSteps(syntheticScan()), params });

    expect(result.working.volume.spacingMm).toEqual([4, 4, 4]);
    expect(result.patches.patchSizeVoxels).toBe(8);
  });
});

describe('createPatchBag', () => {
  it('fills the metadata of the format', async () => {
    const result = await preprocessScan('scan.nrrd', { steps: stubSteps(syntheticScan()) });

    const bag = createPatchBag(result, '/data/patient-folder/scan.nrrd');

    expect(bag.metadata.formatVersion).toBe(1);
    expect(bag.metadata.preprocessingHash).toBe(preprocessParamsHash(DEFAULT_PREPROCESS_PARAMS));
    expect(bag.metadata.source).toEqual({ fileName: 'scan.nrrd', format: 'nrrd' });
    expect(bag.metadata.inputGeometry.size).toEqual([100, 80, 60]);
    expect(bag.metadata.workingGeometry.spacingMm).toEqual([2, 2, 2]);
    expect(bag.metadata.zones['1']).toBe('right-upper-rind');
    expect(Object.keys(bag.metadata.zones)).toHaveLength(12);
    expect(bag.metadata.patchCount).toBe(bag.patches.count);
    expect(bag.metadata.droppedLungFraction).toBe(result.patches.droppedLungFraction);
    expect(bag.metadata.lungVolumeMl).toBe(result.patches.lungVolumeMl);
    expect(JSON.parse(JSON.stringify(bag.metadata))).toEqual(bag.metadata);
  });

  it('keys QCT measures by region', async () => {
    const result = await preprocessScan('scan.nrrd', { steps: stubSteps(syntheticScan()) });

    const qct = createPatchBag(result, 'scan.nrrd').metadata.qct as Record<
      string,
      Record<string, number>
    >;

    expect(Object.keys(qct)).toEqual(
      expect.arrayContaining(['whole', 'right', 'left', 'right-upper-rind']),
    );
    // Labels come from the 2 mm grid, so the native-grid volume differs at the lung edges.
    expect(qct.whole.volumeMl).toBeGreaterThan(0.9 * 350);
    expect(qct.whole.volumeMl).toBeLessThan(1.1 * 350);
    expect(qct.whole.meanHu).toBeCloseTo(-850, 0);
    expect(qct.whole.laa950Percent).toBe(0);
  });
});

describe('preprocessScan on a real scan', () => {
  it('reads and resamples cip-ct64 with a threshold segmentation', async () => {
    const scanPath = join(REAL_DATA, 'cip-ct64/ct-64.nrrd');
    const steps = stubSteps(syntheticScan());
    delete steps.readScan;

    const result = await preprocessScan(scanPath, { steps });

    expect(result.read.format).toBe('nrrd');
    expect(result.read.volume.size).toEqual([64, 64, 79]);
    expect(result.patches.count).toBeGreaterThan(10);
  });
});
