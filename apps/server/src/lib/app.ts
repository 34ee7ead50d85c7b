import { randomUUID } from 'node:crypto';

import type { HttpBindings } from '@hono/node-server';
import type { ExplanationName } from '@dlco/model';
import { DEFAULT_MAX_VOXELS } from '@dlco/preprocess';
import { Hono, type Context } from 'hono';
import { routePath } from 'hono/route';
import type { Logger } from 'pino';

import { bearerAuth, hashApiKeys } from './auth.ts';
import { lockDataDir } from './data-dir-lock.ts';
import { HttpError } from './errors.ts';
import { JobStore } from './job-store.ts';
import { RequestMetrics } from './metrics.ts';
import { OPENAPI_DOCUMENT } from './openapi.ts';
import { pageRoutes } from './pages/pages.ts';
import { predictionRoutes } from './predictions.ts';
import { PredictionWorker, removeUpload } from './worker.ts';

/** Limits of the service. */
export interface ServerLimits {
  /** Maximum upload body in bytes (default 2 GiB). */
  maxUploadBytes: number;
  /** Maximum number of files in one upload (default 4000, a thin-slice DICOM series). */
  maxUploadFiles: number;
  /** Jobs waiting beyond the running ones before POST returns 503 (default 16). */
  maxQueueDepth: number;
  /** Jobs predicted at the same time (default 1). */
  concurrency: number;
  /** Retry-After seconds sent with a full queue (default 30). */
  retryAfterSeconds: number;
  /** Starts of one job before an interrupted job is failed instead of queued again (default 2). */
  maxAttempts: number;
  /**
   * Maximum voxels of a scan, checked from its header (default `DEFAULT_MAX_VOXELS` of
   * `readScan`). A .zip may inflate to 8 bytes per voxel of it.
   */
  maxVoxels: number;
  /** Time in ms an upload body may go without a byte before it fails with 408 (default 30 s). */
  uploadIdleTimeoutMs: number;
  /** Time in ms a whole upload body may take before it fails with 408 (default 30 min). */
  uploadTimeoutMs: number;
  /** Jobs one runner process runs before a new process replaces it (default 50). */
  runnerMaxJobs: number;
  /**
   * RSS in bytes of a runner process, read after each job, above which a new process replaces
   * it (default 2 GiB).
   */
  runnerMaxRssBytes: number;
}

export const DEFAULT_LIMITS: ServerLimits = {
  maxUploadBytes: 2 * 1024 ** 3,
  maxUploadFiles: 4000,
  maxQueueDepth: 16,
  concurrency: 1,
  retryAfterSeconds: 30,
  maxAttempts: 2,
  maxVoxels: DEFAULT_MAX_VOXELS,
  uploadIdleTimeoutMs: 30_000,
  uploadTimeoutMs: 30 * 60_000,
  runnerMaxJobs: 50,
  runnerMaxRssBytes: 2 * 1024 ** 3,
};

/** Options of `createApp`. */
export interface CreateAppOptions {
  /** Folder for `jobs.sqlite` and the job folders; created when missing. */
  dataDir: string;
  /** Accepted API keys; only their SHA-256 digests are kept. */
  apiKeys: readonly string[];
  /** Model folder with model-card.json. */
  modelDir: string;
  logger: Logger;
  limits?: Partial<ServerLimits>;
  /** Explanations per job (default: the ones `dlco predict` computes by default). */
  explain?: ExplanationName[];
  /** Node options of the job runner processes, for example `--expose-gc` (default none). */
  runnerExecArgv?: string[];
}

/** The service: the Hono app plus what must be stopped with it. */
export interface DlcoServerApp {
  app: Hono<{ Bindings: HttpBindings }>;
  /** Resolves when the job runners have loaded the model, or rejects with its loading error. */
  ready: Promise<void>;
  /** Ends the job runner processes, then closes the job store. */
  close(): Promise<void>;
  /** Process ids of the job runners, for benchmarks and tests. */
  runnerPids(): number[];
}

const DEFAULT_EXPLANATIONS: ExplanationName[] = [
  'contributions',
  'occlusion',
  'shapley',
  'deletion',
];

/**
 * Creates the HTTP service: health, readiness, metrics and OpenAPI routes, and the
 * authenticated `/v1/predictions` routes backed by a SQLite job store and a worker that runs
 * each job in a runner process. Jobs found queued in `dataDir` start once a runner has loaded
 * the model. Interrupted ones are queued again, or
 * failed after `maxAttempts` starts. The data dir is locked for this process until `close`.
 *
 * @throws DataDirLockedError when another running server uses `dataDir`
 *
 * @example
 * const options = { dataDir: 'data', apiKeys: ['secret'], modelDir: 'models/demo' };
 * const { app } = createApp({ ...options, logger: pino() });
 * serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 8080 });
 */
export function createApp(options: CreateAppOptions): DlcoServerApp {
  const limits = { ...DEFAULT_LIMITS, ...options.limits };
  const logger = options.logger;
  const keyDigests = hashApiKeys(options.apiKeys);
  // Taken before the store is opened, so that a second server never queues the jobs of a
  // running one again.
  const lock = lockDataDir(options.dataDir);
  let store: JobStore;
  try {
    store = new JobStore(options.dataDir);
  } catch (error) {
    lock.release();
    throw error;
  }
  const recovered = store.recoverInterrupted(limits.maxAttempts);
  if (recovered.requeued.length + recovered.failed.length > 0) {
    logger.warn(recovered, 'Found jobs interrupted by a stop');
  }
  for (const id of recovered.failed) void removeUpload(store.jobDir(id), logger);

  const worker = new PredictionWorker(store, logger, {
    concurrency: limits.concurrency,
    explain: options.explain ?? DEFAULT_EXPLANATIONS,
    maxVoxels: limits.maxVoxels,
    modelDir: options.modelDir,
    runnerMaxJobs: limits.runnerMaxJobs,
    runnerMaxRssBytes: limits.runnerMaxRssBytes,
    runnerExecArgv: options.runnerExecArgv,
  });
  // The worker logs each load and its failure.
  const ready = worker.start().then(() => undefined);
  ready.catch(() => {});

  const metrics = new RequestMetrics();
  const app = new Hono<{ Bindings: HttpBindings }>();
  app.use(requestLogging(logger, metrics));
  app.use(apiResponseHeaders());
  app.onError((error, c) => errorResponse(error, c.get('requestLogger') ?? logger));
  app.notFound(() => jsonError(404, 'NOT_FOUND', 'No such route; see /openapi.json.'));

  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  app.get('/readyz', (c) => {
    const model = worker.model;
    if (model !== undefined) return c.json({ status: 'ready', model: model.modelId });
    if (worker.loadError !== undefined) {
      return jsonError(503, 'MODEL_UNAVAILABLE', 'The model failed to load; see the server log.');
    }
    return jsonError(503, 'MODEL_UNAVAILABLE', 'The model is loading.');
  });
  app.get('/metrics', (c) =>
    c.text(metrics.render(store.countByState(), worker.queueDepth), 200, {
      'Content-Type': 'text/plain; version=0.0.4; charset=utf-8',
    }),
  );
  app.get('/openapi.json', (c) => c.json(OPENAPI_DOCUMENT));
  app.route('/', pageRoutes());

  app.use('/v1/*', bearerAuth(keyDigests));
  app.route(
    '/v1/predictions',
    predictionRoutes({
      store,
      worker,
      limits: { ...limits, maxBodyBytes: limits.maxUploadBytes, maxFiles: limits.maxUploadFiles },
      modelAvailable: () => worker.loadError === undefined,
    }),
  );

  return {
    app,
    ready,
    async close() {
      await worker.stop();
      store.close();
      lock.release();
    },
    runnerPids: () => worker.runnerPids,
  };
}

declare module 'hono' {
  interface ContextVariableMap {
    requestLogger: Logger;
  }
}

/**
 * Gives each request an id (a valid incoming `X-Request-Id` or a new UUID), a child logger
 * that carries it, and one log line and one metrics count when it ends. Only the method, the
 * route pattern and the status are logged, never the body.
 */
function requestLogging(logger: Logger, metrics: RequestMetrics) {
  return async (c: Context, next: () => Promise<void>) => {
    const incoming = c.req.header('X-Request-Id');
    const isValid = incoming !== undefined && /^[\w.-]{1,64}$/.test(incoming);
    const requestId = isValid ? incoming : randomUUID();
    const requestLogger = logger.child({ requestId });
    c.set('requestLogger', requestLogger);
    const started = performance.now();
    await next();
    c.header('X-Request-Id', requestId);
    // The last matched pattern is the handler's, and '*' for an unknown path.
    const route = routePath(c, -1);
    metrics.record(c.req.method, route, c.res.status);
    requestLogger.info(
      {
        method: c.req.method,
        route,
        status: c.res.status,
        durationMs: Math.round(performance.now() - started),
      },
      'Request',
    );
  };
}

/** Path prefixes of the pages and their assets, which set their own headers. */
const PAGE_PATHS = ['/viewer', '/docs', '/assets/'];

/**
 * Sets `X-Content-Type-Options: nosniff` on every response, so that a browser never runs a
 * result file or JSON as another type, and `Cache-Control: no-store` on all but the pages,
 * so that no cache keeps results, job states or errors.
 */
function apiResponseHeaders() {
  return async (c: Context, next: () => Promise<void>) => {
    await next();
    c.header('X-Content-Type-Options', 'nosniff');
    const isPage = c.req.path === '/' || PAGE_PATHS.some((prefix) => c.req.path.startsWith(prefix));
    if (!isPage) c.header('Cache-Control', 'no-store');
  };
}

function errorResponse(error: Error, logger: Logger): Response {
  if (error instanceof HttpError) {
    return jsonError(error.status, error.code, error.message, error.details, error.headers);
  }
  logger.error({ err: error }, 'Request failed');
  return jsonError(500, 'INTERNAL_ERROR', 'The server failed to handle the request.');
}

function jsonError(
  status: number,
  code: string,
  message: string,
  details: Record<string, unknown> = {},
  headers: Record<string, string> = {},
): Response {
  return new Response(JSON.stringify({ error: { code, message, details } }), {
    status,
    headers: { 'Content-Type': 'application/json', ...headers },
  });
}
