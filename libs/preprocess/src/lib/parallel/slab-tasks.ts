import { BodyInteriorSlices, type BodyAndAirMasks } from '../segmentation/body-interior.ts';
import { DistancePasses, type DistanceJob } from '../segmentation/distance-transform.ts';
import {
  InputSliceFilter,
  OutputSliceFinisher,
  type AxisAlignedPlan,
} from '../geometry/axis-aligned-resampling.ts';

/** Work split into independent ranges of slices or rows, each done by the thread that claims it. */
export type SlabTask =
  | { kind: 'filter-input-slices'; plan: AxisAlignedPlan }
  | { kind: 'finish-output-slices'; plan: AxisAlignedPlan }
  | { kind: 'body-and-air'; masks: BodyAndAirMasks }
  | { kind: 'distance-axis'; job: DistanceJob };

/** A task with the shared counters through which the threads claim and report chunks. */
export interface SlabTaskMessage {
  task: SlabTask;
  /** Slices (or rows) to process, in chunks of `chunkSize`. */
  total: number;
  chunkSize: number;
  /**
   * Counters on a `SharedArrayBuffer`. `NEXT_CHUNK` is the next chunk to claim (`Atomics.add`).
   * Each thread increments and notifies `FINISHED_COUNTER` after a chunk. A worker whose chunk
   * throws sets `FAILED_FLAG` to 1 and notifies `FINISHED_COUNTER`.
   */
  counters: Int32Array;
}

/** Index in `SlabTaskMessage.counters` of the next chunk to claim. */
export const NEXT_CHUNK = 0;
/** Index in `SlabTaskMessage.counters` of the number of finished chunks. */
export const FINISHED_COUNTER = 1;
/** Index in `SlabTaskMessage.counters` of the failure flag. */
export const FAILED_FLAG = 2;
/** Length of `SlabTaskMessage.counters`. */
export const COUNTER_COUNT = 3;

/** Returns the function that processes slices `first` to `end - 1` of `task` on this thread. */
export function chunkRunner(task: SlabTask): (first: number, end: number) => void {
  switch (task.kind) {
    case 'filter-input-slices': {
      const filter = new InputSliceFilter(task.plan);
      return (first, end) => filter.filterSlices(first, end);
    }
    case 'finish-output-slices': {
      const finisher = new OutputSliceFinisher(task.plan);
      return (first, end) => finisher.finishSlices(first, end);
    }
    case 'body-and-air': {
      const slices = new BodyInteriorSlices(task.masks);
      return (first, end) => slices.processSlices(first, end);
    }
    case 'distance-axis': {
      const passes = new DistancePasses();
      return (first, end) => passes.run(task.job, first, end);
    }
  }
}

/**
 * Claims chunks of `message` until none is left, processes each and reports it finished.
 * Returns the number of chunks this thread processed.
 */
export function processClaimedChunks(message: SlabTaskMessage): number {
  const { total, chunkSize, counters } = message;
  const chunks = Math.ceil(total / chunkSize);
  let processed = 0;
  let run: ((first: number, end: number) => void) | undefined;
  for (;;) {
    const chunk = Atomics.add(counters, NEXT_CHUNK, 1);
    if (chunk >= chunks) return processed;
    // Built on the first claim, so a thread that arrives late allocates no scratch buffers.
    run ??= chunkRunner(message.task);
    const first = chunk * chunkSize;
    run(first, Math.min(total, first + chunkSize));
    processed++;
    Atomics.add(counters, FINISHED_COUNTER, 1);
    Atomics.notify(counters, FINISHED_COUNTER);
  }
}
