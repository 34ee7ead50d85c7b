export {
  createApp,
  DEFAULT_LIMITS,
  type CreateAppOptions,
  type DlcoServerApp,
  type ServerLimits,
} from './lib/app.ts';
export { startServer, type StartServerOptions, type RunningServer } from './lib/start-server.ts';
export { createServerLogger } from './lib/logger.ts';
