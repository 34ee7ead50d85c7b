/**
 * Worker-thread entry of `SlabWorkerPool`: processes the chunks it claims of each task it is
 * sent. Errors are not caught, so the pool sees the worker exit and the caller falls back to
 * one thread.
 */
import { parentPort } from 'node:worker_threads';

import { processClaimedChunks, type SlabTaskMessage } from './slab-tasks.ts';

if (parentPort === null) throw new Error('slab-worker.ts must run in a worker thread.');
parentPort.on('message', (message: SlabTaskMessage) => {
  processClaimedChunks(message);
});
// Tells the pool that the worker has loaded.
parentPort.postMessage('ready');
