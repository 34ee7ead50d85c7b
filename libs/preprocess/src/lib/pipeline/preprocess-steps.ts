import type { Logger } from '../logger.ts';
import type { LabelVolume, Volume } from '../volume.ts';
import { readScan, type ReadScanOptions, type ReadScanResult } from '../io/read-scan.ts';
import { resampleToWorkingGrid, type WorkingGrid } from '../geometry/working-grid.ts';

/** Whether the scan contains both lungs whole. */
export interface LungCoverage {
  complete: boolean;
  /** Reasons the coverage is incomplete, empty when it is complete. */
  reasons: string[];
  [detail: string]: unknown;
}

/** Lung labels on the working grid (1 right, 2 left) with coverage and warnings. */
export interface LungSegmentation {
  labels: LabelVolume;
  coverage: LungCoverage;
  warnings: string[];
}

/** Zone maps on the working grid. */
export interface LungZones {
  /** Zone code per voxel, 0 outside the lungs. */
  zoneCodes: Uint8Array;
  /** 1 for lung voxels in the peripheral rind. */
  rind: Uint8Array;
  /** Zone code to name. */
  names: Record<number, string>;
}

/** Quantitative CT measures, serialisable as JSON. */
export type QctSummary = Record<string, unknown>;

/** The steps `preprocessScan` runs, replaceable for tests. */
export interface PreprocessSteps {
  readScan(path: string, options: ReadScanOptions): Promise<ReadScanResult>;
  resampleToWorkingGrid(volume: Volume, spacingMm: number): WorkingGrid;
  segmentLungs(working: WorkingGrid, options: { logger: Logger }): LungSegmentation;
  computeZones(labels: LabelVolume, spacingMm: number, options: { rindDepthMm: number }): LungZones;
  computeQct(working: Volume, labels: LabelVolume, zones: LungZones): QctSummary;
}

function notAvailable(step: string): never {
  throw new Error(`${step} is not implemented yet, so preprocessScan stops after resampling`);
}

/** The production steps. */
// TODO: wire segmentLungs, computeZones and computeQct in once their modules exist.
export const DEFAULT_PREPROCESS_STEPS: PreprocessSteps = {
  readScan,
  resampleToWorkingGrid,
  segmentLungs: () => notAvailable('segmentLungs'),
  computeZones: () => notAvailable('computeZones'),
  computeQct: () => notAvailable('computeQct'),
};
