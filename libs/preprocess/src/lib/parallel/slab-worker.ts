/**
 * Worker-thread entry of `SlabWorkerPool`: processes the chunks it claims of each task it is
 * sent. Errors are not caught, so the pool detects the worker's exit and the caller falls back to
 * one thread.
 */
import { parentPort } from 'node:worker_threads';

import {
  FAILED_FLAG,
  FINISHED_COUNTER,
  processClaimedChunks,
  type SlabTaskMessage,
} from './slab-tasks.ts';

if (parentPort === null) throw new Error('slab-worker.ts must run in a worker thread.');
parentPort.on('message', (message: SlabTaskMessage) => {
  try {
    processClaimedChunks(message);
  } catch (error) {
    // A calling thread blocked in runSync cannot see the worker's error event, so the failure
    // is also flagged in shared memory.
    Atomics.store(message.counters, FAILED_FLAG, 1);
    Atomics.notify(message.counters, FINISHED_COUNTER);
    throw error;
  }
});
// Tells the pool that the worker has loaded.
parentPort.postMessage('ready');
