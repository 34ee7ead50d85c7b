import type { EmbeddingBag } from '@dlco/explain';
import type { Logger } from '@dlco/preprocess';

import type { LinearBaseline } from './baseline.ts';
import type { ModelCard } from './model-card.ts';

/** ONNX Runtime execution providers `loadModel` may try, in order of preference. */
export type ExecutionProviderName = 'cuda' | 'cpu';

export interface LoadModelOptions {
  /**
   * Threads ONNX Runtime uses inside one operator (`intraOpNumThreads`). Default: ONNX Runtime's
   * own choice, one per physical core.
   */
  threads?: number;
  /**
   * Providers to try in order; the first that creates both sessions runs them (default
   * `['cuda', 'cpu']`). NOTE: the onnxruntime-node package installed without its install script
   * has no CUDA libraries, so `cuda` fails there and `cpu` runs.
   */
  executionProviders?: readonly ExecutionProviderName[];
  logger?: Logger;
}

/** Patches of one scan as a patch bag stores them: N × S³ each, laid out (k, j, i). */
export interface PatchInput {
  /** Number of patches N. */
  count: number;
  /** HU, with `PADDING_HU` (-32768) where there is no data. */
  hu: Int16Array;
  /** Lung labels: 0 outside, 1 right, 2 left. */
  mask: Uint8Array;
}

export interface EncodeOptions {
  /** Patches per encoder call (default 32). Memory grows with it. */
  batchSize?: number;
  /** Stops before the next encoder call with the signal's reason. */
  signal?: AbortSignal;
}

/** One bag for the aggregator: embeddings plus the per-patch inputs of the patch bag. */
export interface AggregateInput {
  embeddings: EmbeddingBag;
  /** Lung volume inside each patch, in mL. */
  lungMl: Float32Array;
  /** Zone code of each patch, as in the card's `zones`. */
  zone: Uint8Array;
  /** 1 right or 2 left lung, per patch. */
  side: Uint8Array;
  /** Raw metadata vector from `metadataVector`, NaN where missing. */
  metadata: Float32Array;
}

/** The aggregator's outputs for one bag. */
export interface AggregateResult {
  /** DLCO estimate, in ml/min/mmHg. */
  estimate: number;
  /** Predicted standard deviation of the estimate, in ml/min/mmHg. */
  sigma: number;
  /** Lower end of the card's interval (nominally 95 %), floored at 0, in ml/min/mmHg. */
  lower: number;
  /** Upper end of the card's interval, in ml/min/mmHg. */
  upper: number;
  /**
   * Per-patch contributions in ml/min/mmHg; they sum to `estimate` up to float32 rounding. For
   * additive pooling each is the patch's own conductance times its lung volume; for attention
   * pooling each is the attention weight times the estimate; for retained-fraction pooling each
   * is `expected` times `retainedFraction`.
   */
  contributions: Float32Array;
  /**
   * Contribution shares (additive and retained-fraction pooling) or attention weights (attention
   * pooling); they sum to 1.
   */
  patchWeights: Float32Array;
  /** Attention weights when the graph pools by attention, else null. */
  attentionWeights: Float32Array | null;
  /** Conductance per mL of lung, in ml/min/mmHg per mL, when the graph outputs it. */
  conductancePerMl: Float32Array | null;
  /** Subject-level factor applied to every contribution, when the graph outputs it. */
  globalFactor: number | null;
  /**
   * Contribution each patch would make if it were healthy, in ml/min/mmHg, when the graph outputs
   * it (retained-fraction pooling); `expected - contributions` is the model's own deficit.
   */
  expected: Float32Array | null;
  /** Share of its healthy contribution that each patch retains, in (0, 1), when output. */
  retainedFraction: Float32Array | null;
}

/** A loaded DLCO model: the card, its two ONNX sessions and its optional extras. */
export interface DlcoModel {
  /** Absolute model folder. */
  readonly dir: string;
  readonly card: ModelCard;
  /** Provider whose sessions run the graphs. */
  readonly executionProvider: ExecutionProviderName;
  /** Healthy reference patch for occlusion (S³ HU, (k, j, i)), or null when the card has none. */
  readonly referencePatchHu: Int16Array | null;
  /** Global-metric baseline from `baseline.json`, or null when the model folder has none. */
  readonly baseline: LinearBaseline | null;
  /** z of the interval `estimate ± z · sigma`, from the card. */
  readonly intervalZ: number;
  /** Runs the encoder over every patch in batches and returns the N × D embeddings. */
  encodePatches(patches: PatchInput, options?: EncodeOptions): Promise<EmbeddingBag>;
  /** Runs the aggregator on one bag. */
  aggregate(input: AggregateInput): Promise<AggregateResult>;
  /** Releases both sessions and removes the model from the per-process cache. */
  release(): Promise<void>;
}
