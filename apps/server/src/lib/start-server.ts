import type { AddressInfo } from 'node:net';

import { serve, type ServerType } from '@hono/node-server';

import { createApp, DEFAULT_LIMITS, type CreateAppOptions } from './app.ts';

/** Options of `startServer`: the app's options plus where to listen. */
export interface StartServerOptions extends CreateAppOptions {
  /** Interface to listen on (default 127.0.0.1, loopback only). */
  host?: string;
  /** TCP port; 0 picks a free one. */
  port: number;
}

/** A listening server. */
export interface RunningServer {
  /** Base URL such as `http://127.0.0.1:8080`. */
  url: string;
  port: number;
  /** Resolves when the model is loaded. */
  ready: Promise<void>;
  /** Stops accepting connections, ends the job runner processes and closes the job store. */
  close(): Promise<void>;
  /** Process ids of the job runners, for benchmarks and tests. */
  runnerPids(): number[];
}

/**
 * Creates the app and listens on `host:port`.
 *
 * @example
 * const server = await startServer({ port: 0, dataDir, apiKeys: ['secret'], modelDir, logger });
 * await fetch(`${server.url}/healthz`);
 */
export async function startServer(options: StartServerOptions): Promise<RunningServer> {
  const host = options.host ?? '127.0.0.1';
  const service = createApp(options);
  let server: ServerType;
  try {
    server = await new Promise<ServerType>((resolve, reject) => {
      const listening = serve({ fetch: service.app.fetch, hostname: host, port: options.port }, () =>
        resolve(listening),
      );
      listening.once('error', reject);
    });
  } catch (error) {
    // Ends the runners and releases the data dir, so that a retry on another port can start.
    await service.close();
    throw error;
  }
  // Longer than the idle timeouts of common clients (undici: 4 s), so that the client, not the
  // server, closes an idle keep-alive connection and a request never races the close.
  if ('keepAliveTimeout' in server) server.keepAliveTimeout = 65_000;
  // Node's own limit on a whole request (default 300 s) would cut an upload off with a bare 408
  // before the app's upload timeout sends its JSON error, so it is set just above it.
  if ('requestTimeout' in server) {
    const uploadTimeoutMs = options.limits?.uploadTimeoutMs ?? DEFAULT_LIMITS.uploadTimeoutMs;
    server.requestTimeout = uploadTimeoutMs + 10_000;
  }
  const { port } = server.address() as AddressInfo;
  const urlHost = host.includes(':') ? `[${host}]` : host;
  options.logger.info({ host, port }, 'Server listening');
  return {
    url: `http://${urlHost}:${port}`,
    port,
    ready: service.ready,
    runnerPids: () => service.runnerPids(),
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        if ('closeAllConnections' in server) server.closeAllConnections();
      });
      await service.close();
      options.logger.info({ host, port }, 'Server stopped');
    },
  };
}
