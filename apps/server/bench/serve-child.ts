/**
 * Runs the HTTP service for `load-bench.ts` in its own process, so that the parent can read
 * this process's RSS alone. It calls `startServer` as `dlco serve` does, with the limits given
 * as JSON in argv[2], and prints `LISTENING <url>` on stdout once the model is loaded.
 *
 * On the IPC message `memory` it replies with `process.memoryUsage()`, after a full garbage
 * collection when Node runs with `--expose-gc`, so that the parent can tell heap growth from
 * memory the allocator keeps.
 */
import { createServerLogger, startServer } from '../src/index.ts';

interface ChildOptions {
  dataDir: string;
  modelDir: string;
  apiKey: string;
  maxQueueDepth: number;
  concurrency: number;
  /** Jobs per runner process; the server's default when missing. */
  runnerMaxJobs?: number;
}

const options = JSON.parse(process.argv[2] ?? '{}') as ChildOptions;
const logger = createServerLogger('warn');
const server = await startServer({
  host: '127.0.0.1',
  port: 0,
  dataDir: options.dataDir,
  modelDir: options.modelDir,
  apiKeys: [options.apiKey],
  logger,
  limits: {
    maxQueueDepth: options.maxQueueDepth,
    concurrency: options.concurrency,
    ...(options.runnerMaxJobs === undefined ? {} : { runnerMaxJobs: options.runnerMaxJobs }),
  },
});
await server.ready;
process.stdout.write(`LISTENING ${server.url}\n`);

process.on('message', (message) => {
  if (message !== 'memory') return;
  const collect = (globalThis as { gc?: () => void }).gc;
  collect?.();
  process.send?.({ memory: process.memoryUsage(), collected: collect !== undefined });
});

const stop = () => {
  void server.close().then(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
