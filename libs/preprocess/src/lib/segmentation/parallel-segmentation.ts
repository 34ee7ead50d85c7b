import type { WorkingGrid } from '../geometry/working-grid.ts';
import { sharedSlabWorkerPool, type SlabWorkerPool } from '../parallel/slab-worker-pool.ts';
import type { BodyAndAirMasks } from './body-interior.ts';
import {
  DEFAULT_AIR_THRESHOLD_HU,
  DEFAULT_TISSUE_THRESHOLD_HU,
  segmentLungs,
  type LungSegmentation,
  type SegmentLungsOptions,
} from './segment-lungs.ts';

/** Axial slices per chunk that a thread claims. */
const SLICES_PER_CHUNK = 4;

/**
 * Segments the lungs like `segmentLungs`, with the same result, after the slice-by-slice body
 * interior and air threshold are shared between the calling thread and the pool's workers.
 * The other steps work on the whole volume and run on the calling thread.
 *
 * Runs `segmentLungs` alone when the pool has no workers, when `options.fovMask` replaces the
 * grid's mask, or when the grid's arrays are not on `SharedArrayBuffer`s (as
 * `resampleToWorkingGridParallel` returns them). A worker failure makes the calling thread
 * compute the masks itself, with a warning.
 */
export async function segmentLungsParallel(
  grid: WorkingGrid,
  options: Omit<SegmentLungsOptions, 'bodyAndAir'> & { pool?: SlabWorkerPool } = {},
): Promise<LungSegmentation> {
  const { pool = sharedSlabWorkerPool(), ...segmentOptions } = options;
  const { volume, fovMask } = grid;
  const shared =
    volume.data.buffer instanceof SharedArrayBuffer && fovMask.buffer instanceof SharedArrayBuffer;
  if (pool.size === 0 || options.fovMask !== undefined || !shared) {
    return segmentLungs(grid, segmentOptions);
  }
  const masks: BodyAndAirMasks = {
    size: volume.size,
    data: volume.data,
    fovMask,
    tissueThresholdHu: options.tissueThresholdHu ?? DEFAULT_TISSUE_THRESHOLD_HU,
    interior: new Uint8Array(new SharedArrayBuffer(volume.data.length)),
    air: {
      mask: new Uint8Array(new SharedArrayBuffer(volume.data.length)),
      thresholdHu: options.airThresholdHu ?? DEFAULT_AIR_THRESHOLD_HU,
    },
  };
  try {
    await pool.run({
      task: { kind: 'body-and-air', masks },
      total: volume.size[2],
      chunkSize: SLICES_PER_CHUNK,
    });
  } catch (error) {
    options.logger?.warn(
      { error: error instanceof Error ? error.message : String(error) },
      'parallel body segmentation failed, computing it on one thread',
    );
    return segmentLungs(grid, segmentOptions);
  }
  const bodyAndAir = { interior: masks.interior, air: masks.air!.mask };
  return segmentLungs(grid, { ...segmentOptions, bodyAndAir });
}
