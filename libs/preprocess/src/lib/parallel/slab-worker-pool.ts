import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';

import {
  COUNTER_COUNT,
  FAILED_FLAG,
  FINISHED_COUNTER,
  processClaimedChunks,
  type SlabTaskMessage,
} from './slab-tasks.ts';

/** Environment variable that sets the number of worker threads of the shared pool. */
export const PREPROCESS_WORKERS_ENV = 'DLCO_PREPROCESS_WORKERS';

/** Maximum number of worker threads that the shared pool starts by default. */
const MAX_DEFAULT_WORKERS = 3;

/** How long one wait for a worker's chunk lasts before worker failures are checked again, in ms. */
const WAIT_SLICE_MS = 100;

/** How long `runSync` waits without any chunk finishing before it gives up, in ms. */
const SYNC_STALL_LIMIT_MS = 60_000;

function newCounters(): Int32Array {
  return new Int32Array(new SharedArrayBuffer(COUNTER_COUNT * Int32Array.BYTES_PER_ELEMENT));
}

/**
 * Returns the number of worker threads of the shared pool: `DLCO_PREPROCESS_WORKERS` when set
 * (0 runs everything on the calling thread), otherwise one less than the CPUs available to the
 * process, at most 3.
 *
 * @throws RangeError when `DLCO_PREPROCESS_WORKERS` is not a whole number.
 */
export function defaultWorkerCount(): number {
  const value = process.env[PREPROCESS_WORKERS_ENV];
  if (value !== undefined && value.trim() !== '') {
    const count = Number(value);
    if (!Number.isInteger(count) || count < 0) {
      throw new RangeError(
        `Invalid ${PREPROCESS_WORKERS_ENV}='${value}': expected a whole number of worker ` +
          'threads, 0 to run preprocessing on the calling thread only.',
      );
    }
    return count;
  }
  return Math.max(0, Math.min(availableParallelism() - 1, MAX_DEFAULT_WORKERS));
}

interface PoolWorker {
  worker: Worker;
  /** Resolves when the worker has loaded its code, rejects when it fails first. */
  ready: Promise<void>;
  /** Set once the worker has loaded its code. */
  loaded: boolean;
  /** Set once the worker has failed or exited; it then takes no more tasks. */
  failure: Error | undefined;
}

type WaitAsync = (
  array: Int32Array,
  index: number,
  value: number,
  timeoutMs: number,
) => { async: false; value: string } | { async: true; value: Promise<string> };

/**
 * Worker threads that share slab tasks (`SlabTask`) with the calling thread. Threads claim a
 * task's chunks through an atomic counter, so the calling thread works too. A worker that is
 * still starting takes only the chunks left when it is ready. The result does not depend on
 * which thread processed which chunk.
 *
 * Idle workers are unreferenced, so they never keep a process alive.
 */
export class SlabWorkerPool {
  /** Number of worker threads, besides the calling thread. */
  readonly size: number;
  /** Whether the calling thread of `run` and `runSync` claims chunks too. */
  private readonly callingThreadClaims: boolean;
  private readonly workers: PoolWorker[] = [];
  private started = false;
  private runsInFlight = 0;

  /**
   * @param size Number of worker threads.
   * @param options.callingThreadClaims Whether the thread that calls `run` processes chunks too
   *   (default true). Tests turn it off so that the workers compute every chunk.
   */
  constructor(size: number, options: { callingThreadClaims?: boolean } = {}) {
    if (!Number.isInteger(size) || size < 0) {
      throw new RangeError(`Invalid worker count ${size}: expected a whole number.`);
    }
    this.callingThreadClaims = options.callingThreadClaims ?? true;
    if (size === 0 && !this.callingThreadClaims) {
      throw new RangeError('A pool without worker threads needs callingThreadClaims: true.');
    }
    this.size = size;
  }

  /**
   * Starts the workers if they are not running. Loading a worker takes a few hundred ms, so
   * callers start the pool before the work that precedes its first task.
   */
  start(): void {
    if (this.started) return;
    this.started = true;
    for (let index = 0; index < this.size; index++) this.workers.push(this.spawn());
  }

  private spawn(): PoolWorker {
    const worker = new Worker(new URL('./slab-worker-bootstrap.mjs', import.meta.url));
    let settle: { resolve: () => void; reject: (error: Error) => void } | undefined;
    const ready = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
    // A pool that is never awaited must not report an unhandled rejection.
    ready.catch(() => undefined);
    const entry: PoolWorker = { worker, ready, loaded: false, failure: undefined };
    worker.once('message', () => {
      entry.loaded = true;
      settle?.resolve();
    });
    worker.on('error', (error) => {
      entry.failure = error;
      settle?.reject(error);
    });
    worker.on('exit', (code) => {
      entry.failure ??= new Error(`A preprocessing worker thread exited with code ${code}.`);
      settle?.reject(entry.failure);
    });
    worker.unref();
    return entry;
  }

  /**
   * Resolves when all started workers have loaded their code, without keeping the process alive
   * meanwhile, so callers can log a worker that fails to start.
   *
   * @throws Error from the first worker that fails to start.
   */
  async loaded(): Promise<void> {
    await Promise.all(this.workers.map((entry) => entry.ready));
  }

  /**
   * Starts the workers if needed and resolves when all have loaded their code.
   *
   * @throws Error from the first worker that fails to start.
   */
  async ready(): Promise<void> {
    this.start();
    this.holdWorkers(1);
    try {
      await Promise.all(this.workers.map((entry) => entry.ready));
    } finally {
      this.holdWorkers(-1);
    }
  }

  /**
   * Processes all chunks of a task on the calling thread and the pool's workers, and resolves
   * once every chunk is finished, with the number of chunks the calling thread processed.
   *
   * @throws Error when a worker that was sent the task fails before all chunks are finished.
   *   Chunks it claimed may then be missing, so the caller must recompute the task.
   */
  async run(message: Omit<SlabTaskMessage, 'counters'>): Promise<number> {
    this.start();
    const counters = newCounters();
    const task: SlabTaskMessage = { ...message, counters };
    const chunks = Math.ceil(message.total / message.chunkSize);
    const helpers = this.workers.filter((entry) => entry.failure === undefined);
    if (helpers.length === 0 && !this.callingThreadClaims) {
      throw new Error('No preprocessing worker thread is running to process the task.');
    }
    for (const entry of helpers) entry.worker.postMessage(task);
    this.holdWorkers(1);
    try {
      const processed = this.callingThreadClaims ? processClaimedChunks(task) : 0;
      await waitForChunks(counters, chunks, helpers);
      return processed;
    } finally {
      this.holdWorkers(-1);
    }
  }

  /**
   * Does the work of `run` while blocking the calling thread, for synchronous callers. Only
   * workers that have finished loading get the task, so the call never waits for a start.
   * Workers receive messages on their own event loops, so they work while this thread blocks.
   *
   * @throws Error when a worker's chunk throws. Chunks may then be missing, so the caller must
   *   recompute the task.
   */
  runSync(message: Omit<SlabTaskMessage, 'counters'>): number {
    const counters = newCounters();
    const task: SlabTaskMessage = { ...message, counters };
    const chunks = Math.ceil(message.total / message.chunkSize);
    const helpers = this.workers.filter((entry) => entry.loaded && entry.failure === undefined);
    if (helpers.length === 0 && !this.callingThreadClaims) {
      throw new Error('No loaded preprocessing worker thread is available to process the task.');
    }
    for (const entry of helpers) entry.worker.postMessage(task);
    const processed = this.callingThreadClaims ? processClaimedChunks(task) : 0;
    let finished = Atomics.load(counters, FINISHED_COUNTER);
    let lastProgress = performance.now();
    while (finished < chunks) {
      if (Atomics.load(counters, FAILED_FLAG) === 1) {
        throw new Error(
          `A preprocessing worker thread failed with ${finished} of ${chunks} chunks finished.`,
        );
      }
      // NOTE: a worker that dies without running its error handler (killed by the system) would
      // leave its chunk unfinished, so a run without progress for this long is given up.
      if (performance.now() - lastProgress > SYNC_STALL_LIMIT_MS) {
        throw new Error(
          `No preprocessing worker thread finished a chunk for ${SYNC_STALL_LIMIT_MS} ms ` +
            `(${finished} of ${chunks} chunks finished).`,
        );
      }
      Atomics.wait(counters, FINISHED_COUNTER, finished, WAIT_SLICE_MS);
      const now = Atomics.load(counters, FINISHED_COUNTER);
      if (now !== finished) lastProgress = performance.now();
      finished = now;
    }
    return processed;
  }

  /** Whether the pool was started and has at least one loaded, working worker. */
  get hasLoadedWorker(): boolean {
    return this.workers.some((entry) => entry.loaded && entry.failure === undefined);
  }

  /** References the workers while a run waits for them, so the process stays alive meanwhile. */
  private holdWorkers(change: 1 | -1): void {
    const before = this.runsInFlight;
    this.runsInFlight += change;
    if (before === 0 && this.runsInFlight === 1) {
      for (const entry of this.workers) entry.worker.ref();
    }
    if (before === 1 && this.runsInFlight === 0) {
      for (const entry of this.workers) entry.worker.unref();
    }
  }

  /** Stops the workers. The pool starts new ones on its next run. */
  async close(): Promise<void> {
    const workers = this.workers.splice(0);
    this.started = false;
    await Promise.all(workers.map((entry) => entry.worker.terminate()));
  }
}

async function waitForChunks(
  counters: Int32Array,
  chunks: number,
  helpers: PoolWorker[],
): Promise<void> {
  // Atomics.waitAsync exists in Node 16 and later, but the ES2022 library types lack it.
  const waitAsync = (Atomics as unknown as { waitAsync: WaitAsync }).waitAsync;
  for (;;) {
    const finished = Atomics.load(counters, FINISHED_COUNTER);
    if (finished >= chunks) return;
    const failed = helpers.find((entry) => entry.failure !== undefined);
    if (failed === undefined && Atomics.load(counters, FAILED_FLAG) === 1) {
      throw new Error(
        `A preprocessing worker thread failed with ${finished} of ${chunks} chunks finished.`,
      );
    }
    if (failed !== undefined) {
      throw new Error(
        `A preprocessing worker thread failed with ${finished} of ${chunks} chunks finished: ` +
          `${failed.failure?.message}`,
      );
    }
    const wait = waitAsync(counters, FINISHED_COUNTER, finished, WAIT_SLICE_MS);
    if (wait.async) await wait.value;
  }
}

let sharedPool: SlabWorkerPool | undefined;

/** Returns the process-wide pool with `defaultWorkerCount()` workers, created on first use. */
export function sharedSlabWorkerPool(): SlabWorkerPool {
  sharedPool ??= new SlabWorkerPool(defaultWorkerCount());
  return sharedPool;
}

/**
 * Returns the process-wide pool when it exists and one of its workers has loaded, for synchronous
 * steps that use `runSync` only where a caller such as `preprocessScan` started the pool.
 */
export function loadedSharedSlabWorkerPool(): SlabWorkerPool | undefined {
  return sharedPool?.hasLoadedWorker ? sharedPool : undefined;
}
