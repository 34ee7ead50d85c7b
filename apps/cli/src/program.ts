import { Command } from 'commander';

/** Builds the `dlco` command line. Each subcommand lives in its own module under `commands/`. */
export function buildProgram(): Command {
  const program = new Command('dlco')
    .description(
      'Estimate lung diffusion capacity (DLCO) from chest CT, with regional maps. ' +
        'For research use, not diagnosis.',
    )
    .version('0.1.0');
  return program;
}
