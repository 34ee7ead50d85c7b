import { rm } from 'node:fs/promises';
import { join } from 'node:path';

import type { ExplanationName } from '@dlco/model';
import type { Logger } from 'pino';

import type { JobFailure } from './errors.ts';
import type { JobStore } from './job-store.ts';
import { JobRunner, type JobOutcome, type LoadedModel, type RunnerExit } from './job-runner.ts';

/** Settings of the prediction worker. */
export interface WorkerOptions {
  /** Jobs predicted at the same time, each in its own runner process. */
  concurrency: number;
  /** Explanations computed for each job, as `dlco predict --explain` takes them. */
  explain: ExplanationName[];
  /** Maximum voxels of a scan, passed to `readScan`. */
  maxVoxels: number;
  /** Model folder with model-card.json, loaded by each runner process. */
  modelDir: string;
  /** Jobs a runner process runs before it is replaced by a new one. */
  runnerMaxJobs: number;
  /** RSS in bytes of a runner process after a job above which it is replaced. */
  runnerMaxRssBytes: number;
  /** Node options of the runner processes, for example `--expose-gc` (default none). */
  runnerExecArgv?: string[];
}

/**
 * Runs queued jobs with at most `concurrency` at a time, oldest first, each in a runner process
 * (`JobRunner`), so that the HTTP process's event loop stays free while a job runs. The queue
 * itself is the `queued` rows of the job store, so a restart picks it up again. A runner is
 * replaced after `runnerMaxJobs` jobs, when its RSS passes `runnerMaxRssBytes`, and when it
 * exits. A job whose runner exits while it runs fails with `JOB_RUNNER_EXITED`.
 */
export class PredictionWorker {
  readonly #store: JobStore;
  readonly #logger: Logger;
  readonly #options: WorkerOptions;
  readonly #pending: string[] = [];
  readonly #running = new Set<Promise<void>>();
  readonly #runners = new Set<JobRunner>();
  /** Runners that have loaded the model and have no job. */
  readonly #idle: JobRunner[] = [];
  #model: LoadedModel | undefined;
  #loadError: unknown;
  #stopped = false;

  constructor(store: JobStore, logger: Logger, options: WorkerOptions) {
    this.#store = store;
    this.#logger = logger;
    this.#options = options;
    this.#pending.push(...store.queuedIds());
  }

  /** Jobs waiting for a free worker slot. */
  get queueDepth(): number {
    return this.#pending.length;
  }

  /** The model of the runners once one has loaded it, unless a later load failed. */
  get model(): LoadedModel | undefined {
    return this.#loadError === undefined ? this.#model : undefined;
  }

  /** The error of the last failed model load, or undefined. */
  get loadError(): unknown {
    return this.#loadError;
  }

  /** Process ids of the runner processes, for benchmarks and tests. */
  get runnerPids(): number[] {
    return [...this.#runners].flatMap((runner) => (runner.pid === undefined ? [] : [runner.pid]));
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

  /**
   * Starts the runner processes. Queued jobs, for example the ones found in the store at
   * startup, start as soon as a runner has loaded the model.
   *
   * @returns the model, once every runner has loaded it; rejects with the first load error
   */
  async start(): Promise<LoadedModel> {
    const loads = Array.from({ length: this.#options.concurrency }, () => this.#spawn());
    const models = await Promise.all(loads);
    return models[0]!;
  }

  /**
   * Stops starting jobs and ends the runner processes. A job that was running stays `running`
   * in the store, so the next start queues it again.
   */
  async stop(): Promise<void> {
    this.#stopped = true;
    await Promise.all([...this.#runners].map((runner) => runner.stop()));
    await Promise.allSettled([...this.#running]);
  }

  #spawn(): Promise<LoadedModel> {
    const { modelDir, explain, maxVoxels, runnerExecArgv } = this.#options;
    const setup = { modelDir, explain, maxVoxels, logLevel: this.#logger.level };
    const runner = new JobRunner(setup, this.#logger, runnerExecArgv);
    const runnerPid = runner.pid;
    this.#runners.add(runner);
    this.#logger.info({ runnerPid }, 'Job runner started');
    void runner.exited.then((exit) => {
      this.#runners.delete(runner);
      const idleIndex = this.#idle.indexOf(runner);
      if (idleIndex < 0 || this.#stopped) return;
      // A runner that exits between jobs is replaced here. One that exits during a job is
      // replaced by #finish, and one that fails to load the model is not replaced.
      this.#idle.splice(idleIndex, 1);
      this.#logger.error({ runnerPid, ...exit }, 'Job runner exited between jobs');
      this.#replace();
    });
    return runner.loaded.then(
      (model) => {
        this.#model = model;
        this.#loadError = undefined;
        this.#logger.info({ runnerPid, ...model }, 'Model loaded');
        this.#idle.push(runner);
        this.#startNext();
        return model;
      },
      (error: unknown) => {
        this.#loadError = error;
        this.#logger.error({ runnerPid, err: error }, 'Model failed to load');
        void runner.stop();
        throw error;
      },
    );
  }

  #replace(): void {
    if (this.#stopped) return;
    // A load failure is logged and stored by #spawn, and /readyz reports it.
    this.#spawn().catch(() => {});
  }

  #startNext(): void {
    while (!this.#stopped && this.#idle.length > 0 && this.#pending.length > 0) {
      const runner = this.#idle.shift()!;
      const id = this.#pending.shift()!;
      const run = this.#run(runner, id).finally(() => {
        this.#running.delete(run);
        this.#startNext();
      });
      this.#running.add(run);
    }
  }

  async #run(runner: JobRunner, id: string): Promise<void> {
    const job = this.#store.get(id);
    if (job === undefined || job.state !== 'queued') {
      this.#idle.push(runner);
      return;
    }
    const logger = this.#logger.child({ jobId: id });
    const runnerPid = runner.pid;
    const jobDir = this.#store.jobDir(id);
    this.#store.markRunning(id);
    logger.info({ runnerPid }, 'Prediction started');
    const started = performance.now();
    const outcome = await runner.run({ id, scanPath: job.scanPath, subject: job.subject, jobDir });
    if (outcome.kind === 'exited' && this.#stopped) {
      logger.info({ runnerPid }, 'Prediction stopped with the server; it runs at the next start');
      return;
    }
    // Deleted before the state changes, so that a client that sees the job end never finds the
    // originals still on disk.
    await removeUpload(jobDir, logger);
    if (outcome.kind === 'done') {
      this.#store.markDone(id);
      logger.info({ durationMs: Math.round(performance.now() - started) }, 'Prediction done');
    } else {
      // The runner has logged a failure that it reported itself.
      const failure = outcome.kind === 'failed' ? outcome.failure : runnerExitFailure(outcome);
      if (outcome.kind === 'exited') {
        const { exitCode, signal } = outcome;
        logger.error({ runnerPid, exitCode, signal }, 'Job runner exited during a prediction');
      }
      if (this.#store.get(id) !== undefined) this.#store.markFailed(id, failure);
    }
    this.#finish(runner, outcome);
  }

  /** Returns a runner to the idle list after a job, or replaces it. */
  #finish(runner: JobRunner, outcome: JobOutcome): void {
    if (this.#stopped) return;
    if (outcome.kind === 'exited') {
      this.#replace();
      return;
    }
    const { runnerMaxJobs, runnerMaxRssBytes } = this.#options;
    let reason: 'jobs' | 'rss' | undefined;
    if (runner.jobsRun >= runnerMaxJobs) reason = 'jobs';
    else if (runner.lastRssBytes > runnerMaxRssBytes) reason = 'rss';
    if (reason === undefined) {
      this.#idle.push(runner);
      return;
    }
    this.#logger.info(
      { runnerPid: runner.pid, reason, jobsRun: runner.jobsRun, rssBytes: runner.lastRssBytes },
      'Replacing the job runner',
    );
    void runner.stop();
    this.#replace();
  }
}

/**
 * Deletes the `upload/` folder of a job that has ended, done or failed. The originals may carry
 * DICOM identifiers such as PatientName, and the result keeps the CT as `scan.nii.gz` without
 * them. A job stopped with the server keeps its upload, because it runs again at the next start.
 */
export async function removeUpload(jobDir: string, logger: Logger): Promise<void> {
  try {
    await rm(join(jobDir, 'upload'), { recursive: true, force: true });
  } catch (error) {
    logger.error({ err: error, jobDir }, 'Failed to delete the upload of an ended job');
  }
}

function runnerExitFailure(exit: RunnerExit): JobFailure {
  const ending = exit.signal === null ? `exit code ${exit.exitCode}` : `signal ${exit.signal}`;
  return {
    status: 500,
    code: 'JOB_RUNNER_EXITED',
    message:
      `The prediction process ended (${ending}) while it ran this job, so the job is not run ` +
      'again. Upload the scan again; if that fails too, the scan may need more memory than the ' +
      'server has.',
  };
}
