import type { Logger } from '../logger.ts';
import type { LabelVolume, Volume } from '../volume.ts';
import { readScan, type ReadScanOptions, type ReadScanResult } from '../io/read-scan.ts';
import type { WorkingGrid } from '../geometry/working-grid.ts';
import { resampleToWorkingGridParallel } from '../geometry/parallel-working-grid.ts';
import type { LungSegmentation } from '../segmentation/segment-lungs.ts';
import { segmentLungsParallel } from '../segmentation/parallel-segmentation.ts';
import { computeZones, type Zones } from '../zones/compute-zones.ts';
import { computeQct, type QctTable } from '../qct/compute-qct.ts';

/** The steps `preprocessScan` runs, each replaceable for tests. */
export interface PreprocessSteps {
  readScan(path: string, options: ReadScanOptions): Promise<ReadScanResult>;
  resampleToWorkingGrid(
    volume: Volume,
    spacingMm: number,
    options: { logger: Logger },
  ): WorkingGrid | Promise<WorkingGrid>;
  segmentLungs(
    working: WorkingGrid,
    options: { logger: Logger },
  ): LungSegmentation | Promise<LungSegmentation>;
  computeZones(labels: LabelVolume, spacingMm: number, options: { rindDepthMm: number }): Zones;
  /** Measures QCT on `volume`, the scan at its native resolution. */
  computeQct(volume: Volume, labels: LabelVolume, zones: Zones): QctTable;
}

/**
 * The production steps. Resampling and the slice-wise part of the lung segmentation share their
 * slices with the worker threads of `sharedSlabWorkerPool()`, with the same results as
 * `resampleToWorkingGrid` and `segmentLungs`.
 */
export const DEFAULT_PREPROCESS_STEPS: PreprocessSteps = {
  readScan,
  resampleToWorkingGrid: resampleToWorkingGridParallel,
  segmentLungs: segmentLungsParallel,
  computeZones,
  computeQct,
};
