/**
 * The job runner process: loads the model once, then runs the prediction jobs that its parent
 * (`JobRunner` in the HTTP process) sends over IPC, one at a time. It writes result files into
 * the job folder, reports each outcome and its RSS, and sends its pino log lines to the parent,
 * which writes them through the server's logger. SQLite is written by the parent only.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';

import {
  loadModel,
  predictScan,
  writePrediction,
  writePredictionOverlay,
  type DlcoModel,
} from '@dlco/model';
import pino, { type Logger } from 'pino';

import { jobFailureFromError } from './errors.ts';
import type { RunnerRequest, RunnerReply, RunnerSetup, RunRequest } from './job-runner.ts';
import { writeScanVolume } from './scan-volume.ts';

function send(message: RunnerReply): void {
  process.send?.(message);
}

let setup: RunnerSetup | undefined;
let model: DlcoModel | undefined;
let logger: Logger | undefined;

// The parent's death closes the IPC channel; a runner must not outlive it.
process.on('disconnect', () => process.exit(0));
// Ctrl-C in a terminal reaches the whole process group. The runner ignores it and leaves the
// stop to the HTTP process, which then keeps the running job queued for the next start.
process.on('SIGINT', () => {});

process.on('message', (message: RunnerRequest) => {
  if (message.type === 'load') void load(message.setup);
  else if (message.type === 'run') void runJob(message.job);
});

async function load(received: RunnerSetup): Promise<void> {
  setup = received;
  const sink = { write: (line: string) => send({ type: 'log', line }) };
  logger = pino({ level: received.logLevel }, sink);
  try {
    model = await loadModel(received.modelDir, { logger });
    send({ type: 'ready', modelId: model.card.modelId, modelVersion: model.card.modelVersion });
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    send({
      type: 'load-failed',
      message: error instanceof Error ? error.message : String(error),
      code: typeof code === 'string' ? code : undefined,
    });
  }
}

async function runJob(job: RunRequest): Promise<void> {
  if (setup === undefined || model === undefined || logger === undefined) {
    throw new Error('The job runner received a job before its model was loaded.');
  }
  const jobLogger = logger.child({ jobId: job.id });
  try {
    const prediction = await predictScan(job.scanPath, job.subject, {
      model,
      explain: [...setup.explain],
      // A .zip is extracted inside the job folder, so that a DELETE removes any leftover.
      // An upload with two DICOM series is rejected, so that the server never picks one.
      preprocess: {
        read: { maxVoxels: setup.maxVoxels, tempDirectory: job.jobDir, multipleSeries: 'reject' },
      },
      logger: jobLogger,
    });
    const resultDir = join(job.jobDir, 'result');
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
    send({ type: 'done', id: job.id, rssBytes: process.memoryUsage.rss() });
  } catch (error) {
    const failure = jobFailureFromError(error);
    // The stored scan path is internal to the server, so messages name the upload instead,
    // and any other path shows only its part below the job folder.
    failure.message = failure.message
      .replaceAll(`Scan ${job.scanPath}`, 'The uploaded scan')
      .replaceAll(job.scanPath, 'the uploaded scan')
      .replaceAll(`${job.jobDir}/`, '');
    // The full error is logged only for server faults. A rejected scan is logged by its code,
    // because an input error message may quote values read from the file.
    if (failure.status >= 500) jobLogger.error({ err: error }, 'Prediction failed');
    else jobLogger.warn({ code: failure.code }, 'Prediction rejected the scan');
    send({ type: 'failed', id: job.id, failure, rssBytes: process.memoryUsage.rss() });
  }
}
