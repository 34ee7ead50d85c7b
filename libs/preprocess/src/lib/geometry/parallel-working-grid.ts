import { silentLogger, type Logger } from '../logger.ts';
import type { Volume } from '../volume.ts';
import { sharedSlabWorkerPool, type SlabWorkerPool } from '../parallel/slab-worker-pool.ts';
import {
  prepareWorkingGrid,
  resampleToWorkingGrid,
  workingGridFromPlan,
  type ArrayAllocator,
  type WorkingGrid,
} from './working-grid.ts';

/** Input slices per chunk that a thread claims in the first pass. */
const INPUT_SLICES_PER_CHUNK = 4;
/** Output slices per chunk that a thread claims in the second pass. */
const OUTPUT_SLICES_PER_CHUNK = 2;

const SHARED_ARRAYS: ArrayAllocator = {
  float32: (length) => new Float32Array(new SharedArrayBuffer(length * 4)),
  int16: (length) => new Int16Array(new SharedArrayBuffer(length * 2)),
  uint8: (length) => new Uint8Array(new SharedArrayBuffer(length)),
};

/** Options of `resampleToWorkingGridParallel`. */
export interface ParallelResampleOptions {
  /** Worker threads that share the work (default: `sharedSlabWorkerPool()`). */
  pool?: SlabWorkerPool;
  /** Receives a warning when a worker fails and the grid is recomputed on one thread. */
  logger?: Logger;
}

/**
 * Computes the same working grid as `resampleToWorkingGrid`, bit for bit, with the slices of an
 * axis-aligned scan shared between the calling thread and the pool's worker threads. Every
 * voxel is computed by the same code from the same inputs whichever thread takes it. The
 * returned arrays are backed by `SharedArrayBuffer`s.
 *
 * An oblique scan, a pool without workers, or a worker failure (logged as a warning) runs
 * `resampleToWorkingGrid` on the calling thread instead. Input data that is not on a
 * `SharedArrayBuffer` (ITK-wasm already returns it there) is copied to one first.
 */
export async function resampleToWorkingGridParallel(
  volume: Volume,
  spacingMm: number,
  options: ParallelResampleOptions = {},
): Promise<WorkingGrid> {
  const pool = options.pool ?? sharedSlabWorkerPool();
  if (pool.size === 0) return resampleToWorkingGrid(volume, spacingMm);
  const setup = prepareWorkingGrid(volume, spacingMm, SHARED_ARRAYS);
  const plan = setup.plan;
  if (plan === undefined) return resampleToWorkingGrid(volume, spacingMm);
  if (!(plan.source.buffer instanceof SharedArrayBuffer)) {
    const shared = SHARED_ARRAYS.int16(plan.source.length);
    shared.set(plan.source);
    plan.source = shared;
  }
  try {
    await pool.run({
      task: { kind: 'filter-input-slices', plan },
      total: plan.inputSize[2],
      chunkSize: INPUT_SLICES_PER_CHUNK,
    });
    await pool.run({
      task: { kind: 'finish-output-slices', plan },
      total: plan.outputSize[2],
      chunkSize: OUTPUT_SLICES_PER_CHUNK,
    });
  } catch (error) {
    (options.logger ?? silentLogger).warn(
      { error: error instanceof Error ? error.message : String(error) },
      'parallel resampling failed, resampling on one thread',
    );
    return resampleToWorkingGrid(volume, spacingMm);
  }
  return workingGridFromPlan(setup, plan);
}
