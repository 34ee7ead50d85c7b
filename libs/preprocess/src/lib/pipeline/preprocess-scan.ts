import { silentLogger, type Logger } from '../logger.ts';
import { DEFAULT_PREPROCESS_PARAMS, type PreprocessParams } from '../params.ts';
import type { ReadScanOptions, ReadScanResult } from '../io/read-scan.ts';
import type { WorkingGrid } from '../geometry/working-grid.ts';
import type { LungCoverage } from '../segmentation/coverage.ts';
import type { LungSegmentation } from '../segmentation/segment-lungs.ts';
import type { Zones } from '../zones/compute-zones.ts';
import type { QctTable } from '../qct/compute-qct.ts';
import { extractPatches, type ExtractedPatches } from './extract-patches.ts';
import { DEFAULT_PREPROCESS_STEPS, type PreprocessSteps } from './preprocess-steps.ts';
import { sharedSlabWorkerPool, type SlabWorkerPool } from '../parallel/slab-worker-pool.ts';

/** Worker pools whose start failures `preprocessScan` already logs. */
const watchedPools = new WeakSet<SlabWorkerPool>();

/** Options of `preprocessScan`. */
export interface PreprocessScanOptions {
  /** Preprocessing parameters (default `DEFAULT_PREPROCESS_PARAMS`). */
  params?: PreprocessParams;
  logger?: Logger;
  /** Passed to `readScan`, except `logger`. */
  read?: Omit<ReadScanOptions, 'logger'>;
  /** Replaces pipeline steps, for tests. */
  steps?: Partial<PreprocessSteps>;
}

/** Wall time of each pipeline step, in ms. */
export interface PreprocessTimingsMs {
  read: number;
  resample: number;
  segment: number;
  zones: number;
  qct: number;
  patches: number;
  total: number;
}

/** Everything `preprocessScan` computed for one scan. */
export interface PreprocessScanResult {
  params: PreprocessParams;
  /** The scan as read, in its native geometry. */
  read: ReadScanResult;
  /** The scan on the isotropic working grid, with the native geometry in `working.source`. */
  working: WorkingGrid;
  segmentation: LungSegmentation;
  /** Same object as `segmentation.coverage`. Callers reject the scan when `complete` is false. */
  coverage: LungCoverage;
  zones: Zones;
  /** QCT measures on the scan's native grid, per lung region. */
  qct: QctTable;
  patches: ExtractedPatches;
  /** Warnings of every step, in pipeline order. */
  warnings: string[];
  timings: PreprocessTimingsMs;
}

/**
 * Runs the preprocessing pipeline on one scan: read, reorient and resample to the working grid,
 * segment the lungs, compute zones and quantitative CT measures, and cut patches.
 *
 * Incomplete lung coverage does not throw: it is returned in `coverage`, and callers that need
 * whole lungs (such as `dlco preprocess`) reject the scan with `LUNG_COVERAGE_INCOMPLETE`.
 *
 * @param scanPath - scan file, DICOM folder or .zip, as `readScan` accepts.
 * @throws InputError from `readScan` or segmentation, with a stable `code`.
 * @example
 * const result = await preprocessScan('scans/chest.nii.gz', { logger });
 * if (!result.coverage.complete) console.log(result.coverage.reasons);
 */
export async function preprocessScan(
  scanPath: string,
  options: PreprocessScanOptions = {},
): Promise<PreprocessScanResult> {
  const params = options.params ?? DEFAULT_PREPROCESS_PARAMS;
  const logger = options.logger ?? silentLogger;
  const steps = { ...DEFAULT_PREPROCESS_STEPS, ...options.steps };
  const timings: Partial<PreprocessTimingsMs> = {};
  const started = performance.now();
  // Worker threads take a few hundred ms to load, so they start while the scan is read.
  if (steps.resampleToWorkingGrid === DEFAULT_PREPROCESS_STEPS.resampleToWorkingGrid) {
    const pool = sharedSlabWorkerPool();
    pool.start();
    // Logged once per pool, by the logger of the call that started it.
    if (!watchedPools.has(pool)) {
      watchedPools.add(pool);
      pool.loaded().catch((error: unknown) => {
        logger.warn(
          { error: error instanceof Error ? error.message : String(error) },
          'a preprocessing worker thread failed to start, so its share runs on the main thread',
        );
      });
    }
  }

  const timed = async <T>(
    step: Exclude<keyof PreprocessTimingsMs, 'total'>,
    run: () => T | Promise<T>,
  ) => {
    const stepStarted = performance.now();
    const value = await run();
    timings[step] = performance.now() - stepStarted;
    logger.debug({ step, ms: Math.round(timings[step]) }, 'preprocessing step finished');
    return value;
  };

  const read = await timed('read', () => steps.readScan(scanPath, { ...options.read, logger }));
  logger.info(
    { format: read.format, size: read.volume.size, spacingMm: read.volume.spacingMm },
    'scan read',
  );
  const working = await timed('resample', () =>
    steps.resampleToWorkingGrid(read.volume, params.workingSpacingMm, { logger }),
  );
  const segmentation = await timed('segment', () => steps.segmentLungs(working, { logger }));
  const zones = await timed('zones', () =>
    steps.computeZones(segmentation.labels, params.workingSpacingMm, {
      rindDepthMm: params.rindDepthMm,
    }),
  );
  // %LAA-950 and Perc15 depend on resolution, so QCT is measured on the native grid.
  const qct = await timed('qct', () => steps.computeQct(read.volume, segmentation.labels, zones));
  const patches = await timed('patches', () =>
    extractPatches(working.volume, segmentation.labels, zones, params),
  );
  timings.total = performance.now() - started;

  // readScan logs its own warnings, so only the segmentation's are logged here.
  for (const warning of segmentation.warnings) logger.warn({}, warning);
  const warnings = [...read.warnings, ...segmentation.warnings];
  if (!segmentation.coverage.complete) {
    logger.warn({ reasons: segmentation.coverage.reasons }, 'lung coverage is incomplete');
  }
  logger.info(
    {
      patches: patches.count,
      droppedLungFraction: patches.droppedLungFraction,
      ms: Math.round(timings.total),
    },
    'scan preprocessed',
  );

  return {
    params,
    read,
    working,
    segmentation,
    coverage: segmentation.coverage,
    zones,
    qct,
    patches,
    warnings,
    timings: timings as PreprocessTimingsMs,
  };
}
