import { rm } from 'node:fs/promises';
import { join } from 'node:path';

import {
  predictScan,
  writePrediction,
  writePredictionOverlay,
  type DlcoModel,
  type ExplanationName,
} from '@dlco/model';
import type { Logger } from 'pino';

import { jobFailureFromError } from './errors.ts';
import type { JobStore } from './job-store.ts';
import { writeScanVolume } from './scan-volume.ts';

/** Settings of the prediction worker. */
export interface WorkerOptions {
  /** Jobs predicted at the same time. */
  concurrency: number;
  /** Explanations computed for each job, as `dlco predict --explain` takes them. */
  explain: ExplanationName[];
  /** Maximum voxels of a scan, passed to `readScan`. */
  maxVoxels: number;
}

/**
 * Runs queued jobs with at most `concurrency` at a time, oldest first. The queue itself is the
 * `queued` rows of the job store, so a restart picks it up again.
 */
export class PredictionWorker {
  readonly #store: JobStore;
  readonly #logger: Logger;
  readonly #options: WorkerOptions;
  readonly #model: Promise<DlcoModel>;
  readonly #pending: string[] = [];
  readonly #running = new Set<Promise<void>>();
  #stopped = false;

  constructor(store: JobStore, model: Promise<DlcoModel>, logger: Logger, options: WorkerOptions) {
    this.#store = store;
    this.#model = model;
    this.#logger = logger;
    this.#options = options;
    this.#pending.push(...store.queuedIds());
  }

  /** Jobs waiting for a free worker slot. */
  get queueDepth(): number {
    return this.#pending.length;
  }

  enqueue(id: string): void {
    this.#pending.push(id);
    this.#startNext();
  }

  /** Removes a queued job so that it never starts; returns false when it is not waiting. */
  dequeue(id: string): boolean {
    const index = this.#pending.indexOf(id);
    if (index < 0) return false;
    this.#pending.splice(index, 1);
    return true;
  }

  /** Starts queued jobs, for example the ones found in the store at startup. */
  start(): void {
    this.#startNext();
  }

  /** Stops starting jobs and waits for the running ones to end. */
  async stop(): Promise<void> {
    this.#stopped = true;
    await Promise.allSettled([...this.#running]);
  }

  #startNext(): void {
    while (!this.#stopped && this.#running.size < this.#options.concurrency) {
      const id = this.#pending.shift();
      if (id === undefined) return;
      const run = this.#run(id).finally(() => {
        this.#running.delete(run);
        this.#startNext();
      });
      this.#running.add(run);
    }
  }

  async #run(id: string): Promise<void> {
    const job = this.#store.get(id);
    if (job === undefined || job.state !== 'queued') return;
    const logger = this.#logger.child({ jobId: id });
    const jobDir = this.#store.jobDir(id);
    this.#store.markRunning(id);
    logger.info('Prediction started');
    const started = performance.now();
    try {
      const model = await this.#model;
      const prediction = await predictScan(job.scanPath, job.subject, {
        model,
        explain: [...this.#options.explain],
        // A .zip is extracted inside the job folder, so that a DELETE removes any leftover.
        preprocess: { read: { maxVoxels: this.#options.maxVoxels, tempDirectory: jobDir } },
        logger,
      });
      const resultDir = join(this.#store.jobDir(id), 'result');
      // A result folder of a queued job is left from a start that was stopped after writing
      // it. writePrediction replaces only folders of its own files, and scan.nii.gz is not
      // one of them, so the folder is removed first.
      await rm(resultDir, { recursive: true, force: true });
      await writePrediction(resultDir, prediction, {
        writeExtraFiles: async (dir, written) => {
          await writePredictionOverlay(dir, written);
          await writeScanVolume(dir, written);
        },
      });
      this.#store.markDone(id);
      logger.info({ durationMs: Math.round(performance.now() - started) }, 'Prediction done');
    } catch (error) {
      const failure = jobFailureFromError(error);
      // Messages that name the stored scan show the path below the job folder only.
      failure.message = failure.message.replaceAll(`${this.#store.jobDir(id)}/`, '');
      // The full error is logged only for server faults. A rejected scan is logged by its code,
      // because an input error message may quote values read from the file.
      if (failure.status >= 500) logger.error({ err: error }, 'Prediction failed');
      else logger.warn({ code: failure.code }, 'Prediction rejected the scan');
      if (this.#store.get(id) !== undefined) this.#store.markFailed(id, failure);
    }
  }
}

