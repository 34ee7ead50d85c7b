import { resolve } from 'node:path';

import { Command, Option } from 'commander';

import { runAction } from '../errors.ts';
import type { LogOptions } from '../logger.ts';
import { DEFAULT_MODEL_DIR } from './predict.ts';

/** Environment variable with the comma-separated API keys. */
export const API_KEYS_VARIABLE = 'DLCO_API_KEYS';

interface ServeCommandOptions extends LogOptions {
  host: string;
  port: string;
  dataDir: string;
  model: string;
}

/** Builds `dlco serve`: the HTTP service on Hono, with jobs under `--data-dir`. */
export function serveCommand(): Command {
  return new Command('serve')
    .description(
      'Run the HTTP service: POST a scan to /v1/predictions, poll the job, download the maps. ' +
        `API keys come from ${API_KEYS_VARIABLE} (comma-separated). Research use, not diagnosis.`,
    )
    .option('--host <address>', 'interface to listen on', '127.0.0.1')
    .option('--port <n>', 'TCP port (0 picks a free one)', '8080')
    .option('--data-dir <dir>', 'folder for the job database, uploads and results', 'dlco-data')
    .addOption(
      new Option('--model <dir>', 'model folder with model-card.json').default(
        DEFAULT_MODEL_DIR,
        'models/demo in the repository',
      ),
    )
    .action(
      runAction(async (_options: unknown, command: Command) => {
        const options = command.optsWithGlobals<ServeCommandOptions>();
        // The CLI's default level is warn; a service also logs its starts, stops and requests.
        const levelIsDefault = command.parent?.getOptionValueSource('logLevel') === 'default';
        return runServe(options, levelIsDefault ? 'info' : (options.logLevel ?? 'info'));
      }),
    );
}

async function runServe(options: ServeCommandOptions, logLevel: string): Promise<number> {
  const keyList = process.env[API_KEYS_VARIABLE] ?? '';
  const apiKeys = keyList
    .split(',')
    .map((key) => key.trim())
    .filter((key) => key !== '');
  if (apiKeys.length === 0) {
    const problem = keyList === '' ? 'is not set' : 'contains no usable key';
    process.stderr.write(
      `error: ${API_KEYS_VARIABLE} ${problem}. Set it to one or more comma-separated API keys ` +
        'of at least 16 characters without whitespace, which clients send as ' +
        'Authorization: Bearer KEY.\n',
    );
    return 2;
  }
  const port = Number(options.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    process.stderr.write(`error: invalid --port '${options.port}': expected 0 to 65535.\n`);
    return 2;
  }
  // Loaded here, so that other commands do not load Hono, pino and the SQLite binding.
  const { createServerLogger, startServer } = await import('@dlco/server');
  const logger = createServerLogger(options.verbose === true ? 'debug' : logLevel);
  const server = await startServer({
    host: options.host,
    port,
    dataDir: resolve(options.dataDir),
    modelDir: resolve(options.model),
    apiKeys,
    logger,
  });
  process.stderr.write(`dlco serve listening on ${server.url}\n`);
  await new Promise<void>((done) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      void server.close().then(done);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  return 0;
}
