import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

import type { ExplanationName, SubjectMetadata } from '@dlco/model';
import type { Logger } from 'pino';

import type { JobFailure } from './errors.ts';

const RUNNER_ENTRY = fileURLToPath(new URL('./job-runner-bootstrap.mjs', import.meta.url));

/** Time a runner gets to exit after SIGTERM before it is sent SIGKILL. */
const STOP_GRACE_MS = 5_000;

/** Settings a runner process receives once, before it loads the model. */
export interface RunnerSetup {
  modelDir: string;
  /** pino level of the runner's logger, the same as the server logger's. */
  logLevel: string;
  /** Explanations computed for each job, as `dlco predict --explain` takes them. */
  explain: ExplanationName[];
  /** Maximum voxels of a scan, passed to `readScan`. */
  maxVoxels: number;
}

/** One job as the runner process receives it. */
export interface RunRequest {
  id: string;
  scanPath: string;
  subject: SubjectMetadata;
  /** Job folder: result files go to `result/` in it, and a .zip is extracted inside it. */
  jobDir: string;
}

/** Messages from the HTTP process to a runner process. */
export type RunnerRequest = { type: 'load'; setup: RunnerSetup } | { type: 'run'; job: RunRequest };

/** Messages from a runner process to the HTTP process. */
export type RunnerReply =
  | { type: 'log'; line: string }
  | { type: 'ready'; modelId: string; modelVersion: string }
  | { type: 'load-failed'; message: string; code?: string }
  | { type: 'done'; id: string; rssBytes: number }
  | { type: 'failed'; id: string; failure: JobFailure; rssBytes: number };

/** The model a runner loaded. */
export interface LoadedModel {
  modelId: string;
  modelVersion: string;
}

/** Outcome of a job sent to a runner. */
export type JobOutcome =
  | { kind: 'done'; rssBytes: number }
  | { kind: 'failed'; failure: JobFailure; rssBytes: number }
  /** The runner process exited before it reported the job, for example when it was killed. */
  | { kind: 'exited'; exitCode: number | null; signal: NodeJS.Signals | null };

/** Exit code and signal of a runner process. */
export interface RunnerExit {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
}

/** An error of the runner process while it loaded the model, with the model error's code. */
export class RunnerLoadError extends Error {
  readonly code: string | undefined;

  constructor(message: string, code?: string) {
    super(message);
    this.name = 'RunnerLoadError';
    this.code = code;
  }
}

/**
 * A child process that loads the model and runs prediction jobs one at a time, so that reading,
 * preprocessing, inference and explanations never block the HTTP process's event loop and the
 * memory they leave behind is returned when the process is replaced. The process runs
 * `job-runner-process.ts` through tsx. Its log lines are written through `logger`.
 */
export class JobRunner {
  readonly #child: ChildProcess;
  readonly #logger: Logger;
  #current: { id: string; resolve: (outcome: JobOutcome) => void } | undefined;
  #exitInfo: RunnerExit | undefined;
  /** Resolves with the model once the process has loaded it; rejects when loading failed. */
  readonly loaded: Promise<LoadedModel>;
  /** Resolves when the process has exited, for whatever reason. */
  readonly exited: Promise<RunnerExit>;
  /** Jobs this process has finished, done or failed. */
  jobsRun = 0;
  /** RSS in bytes that the process reported after its last job. */
  lastRssBytes = 0;

  constructor(setup: RunnerSetup, logger: Logger, execArgv: string[] = []) {
    this.#logger = logger;
    // stdout goes to the server's stderr, so that a stray print never mixes with the output
    // of the process that started the server.
    this.#child = fork(RUNNER_ENTRY, [], { execArgv, stdio: ['ignore', 2, 2, 'ipc'] });
    this.exited = new Promise((resolve) => {
      this.#child.once('exit', (exitCode, signal) => {
        this.#exitInfo = { exitCode, signal };
        const current = this.#current;
        this.#current = undefined;
        current?.resolve({ kind: 'exited', exitCode, signal });
        resolve(this.#exitInfo);
      });
    });
    this.loaded = new Promise((resolve, reject) => {
      this.#child.on('message', (message: RunnerReply) => {
        if (message.type === 'ready') {
          resolve({ modelId: message.modelId, modelVersion: message.modelVersion });
        } else if (message.type === 'load-failed') {
          reject(new RunnerLoadError(message.message, message.code));
        } else {
          this.#handleReply(message);
        }
      });
      void this.exited.then(({ exitCode, signal }) => {
        const ending = signal === null ? `exit code ${exitCode}` : `signal ${signal}`;
        const message = `The job runner process exited (${ending}) before it loaded the model.`;
        reject(new RunnerLoadError(message));
      });
    });
    this.#child.send({ type: 'load', setup } satisfies RunnerRequest);
  }

  /** Process id of the runner, for logs and tests. */
  get pid(): number | undefined {
    return this.#child.pid;
  }

  /** Sends one job; the runner must be loaded and have no other job. */
  run(job: RunRequest): Promise<JobOutcome> {
    if (this.#current !== undefined) {
      throw new Error(`The job runner is busy with job ${this.#current.id}.`);
    }
    if (this.#exitInfo !== undefined) {
      const { exitCode, signal } = this.#exitInfo;
      return Promise.resolve({ kind: 'exited', exitCode, signal });
    }
    return new Promise((resolve) => {
      this.#current = { id: job.id, resolve };
      this.#child.send({ type: 'run', job } satisfies RunnerRequest);
    });
  }

  /** Ends the process: SIGTERM, then SIGKILL if it is still running after a grace time. */
  async stop(): Promise<RunnerExit> {
    if (this.#exitInfo !== undefined) return this.#exitInfo;
    this.#child.kill('SIGTERM');
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), STOP_GRACE_MS);
    const exit = await this.exited;
    clearTimeout(timer);
    return exit;
  }

  #handleReply(message: RunnerReply): void {
    if (message.type === 'log') {
      this.#writeLog(message.line);
      return;
    }
    if (message.type !== 'done' && message.type !== 'failed') return;
    const current = this.#current;
    if (current === undefined || current.id !== message.id) {
      const fields = { jobId: message.id, runnerPid: this.pid };
      this.#logger.error(fields, 'Job runner reported a job that it was not running');
      return;
    }
    this.#current = undefined;
    this.jobsRun += 1;
    this.lastRssBytes = message.rssBytes;
    if (message.type === 'done') current.resolve({ kind: 'done', rssBytes: message.rssBytes });
    else current.resolve({ kind: 'failed', failure: message.failure, rssBytes: message.rssBytes });
  }

  /** Writes one pino JSON line of the runner through the server's logger, at its level. */
  #writeLog(line: string): void {
    let record: Record<string, unknown>;
    try {
      record = JSON.parse(line) as Record<string, unknown>;
    } catch {
      this.#logger.warn({ runnerPid: this.pid }, 'Job runner sent a log line that is not JSON');
      return;
    }
    const { level, msg, time: _time, pid: _pid, hostname: _hostname, ...fields } = record;
    const label = typeof level === 'number' ? this.#logger.levels.labels[level] : undefined;
    const write = label === undefined ? this.#logger.info : this.#logger[label as 'info'];
    const text = typeof msg === 'string' ? msg : '';
    write.call(this.#logger, { ...fields, runnerPid: this.pid }, text);
  }
}
