import { buildProgram } from './program.ts';

// A reader that closes the pipe early (`dlco predict ... | head`) is not an error of the
// command: stop quietly instead of crashing on EPIPE.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
});

await buildProgram().parseAsync(process.argv);
