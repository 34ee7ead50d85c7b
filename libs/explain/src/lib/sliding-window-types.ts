import type { VoxelTriple } from './argument-checks.ts';
import type { VoxelBox } from './window-grid.ts';

/** Voxel data a sliding-window model accepts. */
export type VoxelData = Float32Array | Int16Array;

/**
 * A 3-D scalar volume. Voxel (x, y, z) is `data[x + nx * (y + ny * z)]`, x varying fastest, the
 * layout `@dlco/preprocess` uses.
 */
export interface OcclusionVolume<T extends VoxelData = VoxelData> {
  data: T;
  /** Voxel counts [nx, ny, nz]. */
  size: VoxelTriple;
}

/**
 * A model reduced to one number per volume, for example DLCO in ml/min/mmHg. It receives a
 * buffer that is reused between calls, so it must not modify it or read it after its promise
 * settles.
 */
export type VolumePredictor<T extends VoxelData = VoxelData> = (data: T) => Promise<number>;

/** Rule that assigns a window's output difference to its voxels. */
export type WindowSpread =
  /** Every voxel of the window receives the whole difference (Captum `Occlusion`). */
  | 'repeat'
  /** The difference is divided evenly over the window's voxels inside the volume. */
  | 'divide';

export interface SlidingWindowOcclusionOptions {
  /** Window edge lengths [x, y, z] in voxels, each at least 1 and at most the volume's size. */
  windowVoxels: VoxelTriple;
  /** Steps [x, y, z] between window starts in voxels, each at least 1. */
  strideVoxels: VoxelTriple;
  /**
   * Value written into occluded voxels, in the volume's unit (HU for CT). An `Int16Array`
   * volume needs an integer in [-32768, 32767].
   */
  baseline: number;
  /**
   * Voxel mask on the same grid. When given, only windows that contain at least one non-zero
   * mask voxel are evaluated, and voxels outside every evaluated window get attribution 0.
   */
  mask?: Uint8Array;
  /** Maximum model evaluations (windows + 1). The call is rejected before any evaluation. */
  maxEvaluations?: number;
  /** Default `'repeat'`. */
  spread?: WindowSpread;
  /**
   * Model calls in flight at once (default 1). Each in-flight call uses its own copy of the
   * volume, so memory grows with this number.
   */
  concurrency?: number;
  /** Called after every model evaluation. */
  onProgress?: (progress: { evaluations: number; total: number }) => void;
  /** Stops before the next evaluation with the signal's reason. */
  signal?: AbortSignal;
}

export interface SlidingWindowOcclusionResult {
  /** Attribution per voxel, in the model's output unit, laid out like the input volume. */
  attribution: Float32Array;
  /** Number of evaluated windows that contain each voxel. Voxels with 0 have attribution 0. */
  coverage: Uint32Array;
  /** Model evaluations made: one for the unoccluded volume plus one per evaluated window. */
  evaluations: number;
  /** Model output for the unoccluded volume. */
  referenceOutput: number;
  /** Evaluated windows, truncated to the volume, in evaluation order. */
  windows: VoxelBox[];
  /** `referenceOutput` minus the output with each window occluded, aligned with `windows`. */
  windowDifferences: Float64Array;
}
