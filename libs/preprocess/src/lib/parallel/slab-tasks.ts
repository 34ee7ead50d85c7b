import { BodyInteriorSlices, type BodyAndAirMasks } from '../segmentation/body-interior.ts';
import {
  InputSliceFilter,
  OutputSliceFinisher,
  type AxisAlignedPlan,
} from '../geometry/axis-aligned-resampling.ts';

/** Work that splits into independent ranges of slices, each done by whichever thread claims it. */
export type SlabTask =
  | { kind: 'filter-input-slices'; plan: AxisAlignedPlan }
  | { kind: 'finish-output-slices'; plan: AxisAlignedPlan }
  | { kind: 'body-and-air'; masks: BodyAndAirMasks };

/** A task with the shared counters through which the threads claim and report chunks. */
export interface SlabTaskMessage {
  task: SlabTask;
  /** Slices to process, in chunks of `chunkSize`. */
  total: number;
  chunkSize: number;
  /**
   * On a `SharedArrayBuffer`: `[0]` is the next chunk to claim (`Atomics.add`), `[1]` the number
   * of chunks finished, which each thread increments and notifies after a chunk.
   */
  counters: Int32Array;
}

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
    const chunk = Atomics.add(counters, 0, 1);
    if (chunk >= chunks) return processed;
    // Built on the first claim, so a thread that arrives late allocates no scratch buffers.
    run ??= chunkRunner(message.task);
    const first = chunk * chunkSize;
    run(first, Math.min(total, first + chunkSize));
    processed++;
    Atomics.add(counters, 1, 1);
    Atomics.notify(counters, 1);
  }
}
