import type { Logger, PreprocessScanOptions, PreprocessScanResult } from '@dlco/preprocess';

import type { BaselineEstimate, WholeLungQct } from '../baseline.ts';
import type { SubjectMetadata } from '../metadata.ts';
import type { HeldOutMetrics } from './training-cohort.ts';
import type { AggregateResult, DlcoModel } from '../model.ts';
import type { Pooling } from '../model-card.ts';

/** Explanations `predictScan` can add to the result. */
export const EXPLANATION_NAMES = [
  /** Per-patch and per-zone contributions from the aggregator (always computed). */
  'contributions',
  /** Attention weights per patch, for attention pooling only. */
  'attention',
  /** Image-space patch occlusion with the model's healthy reference patch. */
  'occlusion',
  /** Sliding-window occlusion on the working grid, written as `sliding-window.nii.gz`. */
  'sliding-window',
  /** Exact Shapley values over the lung zones. */
  'shapley',
  /** Deletion curve of the patch ranking. */
  'deletion',
] as const;

export type ExplanationName = (typeof EXPLANATION_NAMES)[number];

/** Quantity spread over the lung in `map.nii.gz`. */
export type MapQuantity = 'deficit' | 'contribution';

export interface PredictScanOptions {
  /** A loaded model, from `loadModel`. */
  model: DlcoModel;
  /** Explanations to compute (default `['contributions', 'attention']`). */
  explain?: readonly ExplanationName[];
  /** Quantity of the voxel map (default `deficit`). */
  mapQuantity?: MapQuantity;
  /** Patches per encoder call (default 32). */
  batchSize?: number;
  /** Maximum model evaluations of sliding-window occlusion (default 4000). */
  maxSlidingWindowEvaluations?: number;
  /** Passed to `preprocessScan`, except `logger`; `params` are always the running defaults. */
  preprocess?: Omit<PreprocessScanOptions, 'logger' | 'params'>;
  /**
   * An earlier `preprocessScan` result of the same scan with the running default parameters.
   * Preprocessing is then skipped, so several models can run on one scan.
   */
  preprocessed?: PreprocessScanResult;
  logger?: Logger;
  /** Stops before the next model call with the signal's reason. */
  signal?: AbortSignal;
}

/** Wall time of each stage of `predictScan`, in ms. */
export interface PredictTimingsMs {
  preprocess: number;
  encode: number;
  aggregate: number;
  /** Encoding every patch with the reference patch's HU, shared by occlusion, Shapley and deletion. */
  referenceEncode: number;
  /** Per explanation, in ms, without `referenceEncode`. */
  explain: Partial<Record<ExplanationName, number>>;
  maps: number;
  total: number;
}

/** Per-voxel maps on the input's grid, ready for `writePrediction`. */
export interface PredictionMaps {
  /** `mapQuantity` per mL of lung, in ml/min/mmHg per mL, on the input grid; 0 outside the lung. */
  map: Float32Array;
  /** Lung labels on the input grid: 0 outside, 1 right, 2 left. */
  lungMask: Uint8Array;
  /** Sliding-window occlusion per mL of lung on the input grid, when it was requested. */
  slidingWindow: Float32Array | null;
}

/** Everything `predictScan` returns: the JSON result plus the arrays behind its files. */
export interface Prediction {
  /** The content of `result.json`; see `schema/result.schema.json`. */
  result: PredictionResult;
  maps: PredictionMaps;
  /** The preprocessing result, for callers that render overlays from it. */
  preprocessed: PreprocessScanResult;
  aggregate: AggregateResult;
}

/** One lung zone of the result. */
export interface RegionResult {
  zone: string;
  zoneCode: number;
  /** Lung volume in the zone's patches, in mL. */
  lungVolumeMl: number;
  patchCount: number;
  /** Sum of the zone's patch contributions, in ml/min/mmHg. */
  contributionMlMinMmHg: number;
  /**
   * Healthy contribution of the zone's patches in ml/min/mmHg: the model's `expected` output
   * summed over them, or without it the GLI predicted DLCO times the zone's share of patch lung
   * volume. `deficit.definition` of the result states which.
   */
  expectedMlMinMmHg: number | null;
  /** `expectedMlMinMmHg - contributionMlMinMmHg`; positive means below the healthy expectation. */
  deficitMlMinMmHg: number | null;
  /** Sum of the zone's patch occlusion attributions, in ml/min/mmHg, when computed. */
  occlusionMlMinMmHg?: number;
  /** Shapley value of the zone, in ml/min/mmHg, when computed. */
  shapleyMlMinMmHg?: number;
}

/** One patch of the result. */
export interface PatchResult {
  index: number;
  zone: string;
  /** Working-grid index (i, j, k) of the patch's first voxel. */
  cornerIjk: [number, number, number];
  /** Patch centre in patient coordinates (LPS), in mm. */
  centerMm: [number, number, number];
  lungMl: number;
  contributionMlMinMmHg: number;
  deficitMlMinMmHg: number | null;
  /** Contribution share (additive) or attention weight (attention). */
  weight: number;
  attentionWeight?: number;
  occlusionMlMinMmHg?: number;
}

/** The content of `result.json`. Field meanings are in `schema/result.schema.json`. */
export interface PredictionResult {
  resultFormatVersion: number;
  intendedUse: string;
  dlco: {
    unit: 'ml/min/mmHg';
    estimate: number;
    lower: number;
    upper: number;
    intervalCoverage: number;
    sigma: number;
    predicted: number | null;
    lln: number | null;
    uln: number | null;
    zScore: number | null;
    percentPredicted: number | null;
    reference: {
      equations: string;
      hbCorrected: boolean;
      hbGdl: number | null;
      hbFactor: number | null;
    };
  };
  deficit: { definition: string; totalMlMinMmHg: number | null };
  regions: RegionResult[];
  patches: PatchResult[];
  baseline: (BaselineEstimate & { method: string }) | null;
  qct: { wholeLung: WholeLungQct | null; table: unknown };
  explanations: Record<string, unknown>;
  model: {
    id: string;
    version: string;
    trainedOn: string;
    trainingCohort: unknown;
    /** Held-out coverage and MAEs from the model card's metrics, or null when it has none. */
    heldOutMetrics: HeldOutMetrics | null;
    pooling: Pooling;
    executionProvider: string;
    limitations: string[];
  };
  subject: SubjectMetadata;
  input: {
    fileName: string;
    format: string;
    size: [number, number, number];
    spacingMm: [number, number, number];
  };
  preprocessing: {
    hash: string;
    params: Record<string, number>;
    patchCount: number;
    lungVolumeMl: number;
    droppedLungFraction: number;
  };
  maps: Record<string, { file: string; quantity: string; unit: string }>;
  warnings: string[];
  timingsMs: PredictTimingsMs;
}
