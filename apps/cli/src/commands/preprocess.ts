import { resolve } from 'node:path';

import { Command } from 'commander';
import { DEFAULT_PREPROCESS_PARAMS, type PreprocessParams } from '@dlco/preprocess';

import { EXIT_FAILURE, EXIT_INPUT_ERROR, runAction } from '../errors.ts';
import { loggerFromOptions, type LogOptions } from '../logger.ts';
import {
  isValidScanId,
  readManifest,
  SCAN_ID_RULE,
  scanIdFromPath,
  type ScanJob,
} from '../manifest.ts';
import { createScanProgress } from '../progress.ts';
import { preprocessJobs, type PreprocessRunSummary } from './preprocess-jobs.ts';

interface PreprocessCommandOptions extends LogOptions {
  out: string;
  id?: string;
}

/** Builds `dlco preprocess`, which writes one patch bag per scan. */
export function preprocessCommand(): Command {
  return new Command('preprocess')
    .description(
      'Write a patch bag (docs/patch-bag-format.md) for one scan, or for every scan of a ' +
        'manifest CSV with columns id and path. Scans whose bag exists with the same ' +
        'preprocessing hash are skipped.',
    )
    .argument('<input>', 'scan file, DICOM folder or .zip, or a manifest .csv')
    .requiredOption('--out <dir>', 'folder that receives one bag folder per scan id')
    .option(
      '--id <id>',
      'bag folder name for a single scan (default: the file name without extension)',
    )
    .action(
      runAction(async (input: string, _options: unknown, command: Command) => {
        const options = command.optsWithGlobals<PreprocessCommandOptions>();
        return runPreprocess(input, options, DEFAULT_PREPROCESS_PARAMS);
      }),
    );
}

async function runPreprocess(
  input: string,
  options: PreprocessCommandOptions,
  params: PreprocessParams,
): Promise<number> {
  const isManifest = input.toLowerCase().endsWith('.csv');
  if (isManifest && options.id !== undefined) {
    throw new Error('--id applies to a single scan: a manifest sets each id in its id column');
  }

  const jobs: ScanJob[] = isManifest
    ? await readManifest(input)
    : [{ id: options.id ?? scanIdFromPath(input), path: resolve(input) }];
  if (!isManifest && !isValidScanId(jobs[0].id)) {
    throw new Error(`invalid --id '${jobs[0].id}': ${SCAN_ID_RULE}`);
  }

  const progress = createScanProgress(jobs.length);
  // Log lines go through the progress reporter so that they do not break the bar.
  const logger = loggerFromOptions(options, (line) => progress.log(line.trimEnd()));
  let summary: PreprocessRunSummary;
  try {
    summary = await preprocessJobs(jobs, {
      outDir: resolve(options.out),
      params,
      logger,
      progress,
      // One scan reports its error as the command's error, with its code and exit status.
      stopOnFailure: !isManifest,
    });
  } finally {
    progress.stop();
  }

  const { written, skipped, failures } = summary;
  process.stdout.write(
    `${written.length} written, ${skipped.length} skipped, ${failures.length} failed ` +
      `(out: ${resolve(options.out)})\n`,
  );
  if (failures.length === 0) return 0;

  process.stderr.write(`${failures.length} of ${jobs.length} scans failed:\n`);
  for (const failure of failures) {
    process.stderr.write(`  ${failure.id}: error [${failure.code}]: ${failure.message}\n`);
  }
  return failures.every((failure) => failure.inputError) ? EXIT_INPUT_ERROR : EXIT_FAILURE;
}
