import { Command, Option } from 'commander';

import { batchCommand } from './commands/batch.ts';
import { demoCommand } from './commands/demo.ts';
import { evalCommand } from './commands/eval.ts';
import { inspectCommand } from './commands/inspect.ts';
import { predictCommand } from './commands/predict.ts';
import { preprocessCommand } from './commands/preprocess.ts';
import { serveCommand } from './commands/serve.ts';
import { LOG_LEVELS } from './logger.ts';

/** Builds the `dlco` command line. Each subcommand lives in its own module under `commands/`. */
export function buildProgram(): Command {
  const program = new Command('dlco')
    .description(
      'Estimate lung diffusion capacity (DLCO) from chest CT, with regional maps. ' +
        'For research use, not diagnosis.',
    )
    .version('0.1.0')
    .option('--verbose', 'log debug messages to stderr (same as --log-level debug)')
    .addOption(
      new Option('--log-level <level>', 'lowest level of log messages written to stderr')
        .choices(LOG_LEVELS)
        .default('warn'),
    );
  program.addCommand(inspectCommand());
  program.addCommand(preprocessCommand());
  program.addCommand(predictCommand());
  program.addCommand(batchCommand());
  program.addCommand(demoCommand());
  program.addCommand(evalCommand());
  program.addCommand(serveCommand());
  return program;
}
