// Entry of the job runner process forked by `JobRunner`. A forked process starts without the
// tsx hooks of its parent (which may itself run under vitest), so it registers its own before
// it loads the TypeScript module.
import { register } from 'tsx/esm/api';

register();
await import('./job-runner-process.ts');
