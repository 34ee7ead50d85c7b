import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';

import type { HttpBindings } from '@hono/node-server';
import { Hono } from 'hono';

import { HttpError } from './errors.ts';
import type { Job, JobStore } from './job-store.ts';
import { checkEarlyFields, METADATA_FIELDS, subjectFromFields } from './metadata.ts';
import { storeScan } from './store-scan.ts';
import { receiveUpload, type UploadLimits } from './upload.ts';
import type { PredictionWorker } from './worker.ts';

/** Result files a client can download, with their media types. */
const RESULT_FILES: Record<string, string> = {
  'map.nii.gz': 'application/gzip',
  'lung-mask.nii.gz': 'application/gzip',
  'overlay.png': 'image/png',
  'scan.nii.gz': 'application/gzip',
};

/** Dependencies of the prediction routes. */
export interface PredictionRoutesContext {
  store: JobStore;
  worker: PredictionWorker;
  limits: UploadLimits & { maxQueueDepth: number; retryAfterSeconds: number; maxVoxels: number };
  /** Rejects new jobs with 503 while the model is not available. */
  modelAvailable: () => boolean;
}

/** Routes under `/v1/predictions`; authentication is applied by the caller. */
export function predictionRoutes(context: PredictionRoutesContext) {
  const { store, worker, limits } = context;
  const routes = new Hono<{ Bindings: HttpBindings }>();

  routes.post('/', async (c) => {
    if (!context.modelAvailable()) {
      throw new HttpError(503, 'MODEL_UNAVAILABLE', 'The model is not loaded; see /readyz.');
    }
    if (worker.queueDepth >= limits.maxQueueDepth) throw queueFull(limits);

    const id = randomUUID();
    const uploadDir = join(store.jobDir(id), 'upload');
    await mkdir(uploadDir, { recursive: true });
    try {
      const upload = await receiveUpload(c.env.incoming, uploadDir, limits, {
        fieldNames: Object.keys(METADATA_FIELDS),
        checkFieldsBeforeFile: checkEarlyFields,
      });
      const subject = subjectFromFields(upload.fields);
      const scanPath = await storeScan(uploadDir, upload.files, limits);
      // Checked again, because the queue may have filled while the upload streamed.
      if (worker.queueDepth >= limits.maxQueueDepth) throw queueFull(limits);
      store.insert({ id, scanPath, subject, ownerKeyId: c.get('apiKeyId') });
    } catch (error) {
      await rm(store.jobDir(id), { recursive: true, force: true });
      throw error;
    }
    worker.enqueue(id);
    c.header('Location', `/v1/predictions/${id}`);
    return c.json(jobBody(store.get(id)!), 202);
  });

  routes.get('/:id', async (c) => {
    const job = requireJob(store, c.req.param('id'), c.get('apiKeyId'));
    const body = jobBody(job);
    if (job.state === 'done') {
      const text = await readFile(join(store.jobDir(job.id), 'result', 'result.json'), 'utf8');
      body.result = JSON.parse(text);
    }
    return c.json(body);
  });

  const fileRoute = '/:id/:file{map\\.nii\\.gz|lung-mask\\.nii\\.gz|overlay\\.png|scan\\.nii\\.gz}';
  routes.get(fileRoute, async (c) => {
    const job = requireJob(store, c.req.param('id'), c.get('apiKeyId'));
    if (job.state === 'failed') {
      const code = job.failure?.code ?? 'unknown';
      throw new HttpError(
        409,
        'JOB_FAILED',
        `Job ${job.id} failed with ${code}, so it has no result files. GET ` +
          `/v1/predictions/${job.id} returns the error message.`,
        { details: { state: job.state, errorCode: code } },
      );
    }
    if (job.state !== 'done') {
      throw new HttpError(409, 'JOB_NOT_DONE', `Job ${job.id} is ${job.state}, not done.`, {
        details: { state: job.state },
      });
    }
    const file = c.req.param('file');
    const path = join(store.jobDir(job.id), 'result', file);
    const size = await stat(path).then((stats) => stats.size, () => undefined);
    if (size === undefined) throw new HttpError(404, 'NOT_FOUND', `Job ${job.id} has no ${file}.`);
    const stream = Readable.toWeb(createReadStream(path)) as ReadableStream;
    return c.body(stream, 200, {
      'Content-Type': RESULT_FILES[file],
      'Content-Length': String(size),
    });
  });

  routes.delete('/:id', async (c) => {
    const job = requireJob(store, c.req.param('id'), c.get('apiKeyId'));
    if (job.state === 'running') {
      throw new HttpError(409, 'JOB_RUNNING', `Job ${job.id} is running; delete it when it ends.`);
    }
    worker.dequeue(job.id);
    store.delete(job.id);
    await rm(store.jobDir(job.id), { recursive: true, force: true });
    return c.body(null, 204);
  });

  return routes;
}

/**
 * Returns the job if the key may use it: its owner, or any key for a job without an owner.
 * Another key's job gets the same 404 as a missing one, so that ids of other clients' jobs
 * cannot be probed.
 */
function requireJob(store: JobStore, id: string, keyId: string): Job {
  const job = store.get(id);
  const visible = job !== undefined && (job.ownerKeyId === null || job.ownerKeyId === keyId);
  if (!visible) {
    // Job ids are UUIDs of 36 characters, so a longer id is cut rather than echoed in full.
    const shown = id.length > 64 ? `${id.slice(0, 64)}...` : id;
    throw new HttpError(404, 'NOT_FOUND', `No prediction job ${shown}.`);
  }
  return job;
}

function queueFull(limits: PredictionRoutesContext['limits']): HttpError {
  return new HttpError(
    503,
    'QUEUE_FULL',
    `The queue holds ${limits.maxQueueDepth} jobs, its maximum; retry later.`,
    { headers: { 'Retry-After': String(limits.retryAfterSeconds) } },
  );
}

/** The job as GET returns it; the stored scan path and the subject data stay on the server. */
function jobBody(job: Job): Record<string, unknown> {
  const body: Record<string, unknown> = {
    id: job.id,
    state: job.state,
    createdAt: job.createdAt,
    startedAt: job.startedAt,
    finishedAt: job.finishedAt,
  };
  if (job.failure !== null) {
    body.error = { code: job.failure.code, message: job.failure.message };
    body.errorStatus = job.failure.status;
  }
  return body;
}
