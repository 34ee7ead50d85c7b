import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';

import {
  EXPLANATION_NAMES,
  isModelError,
  loadModel,
  ModelError,
  type ExplanationName,
} from '@dlco/model';
import { Command, InvalidArgumentError, Option } from 'commander';

import { EXIT_FAILURE, EXIT_INPUT_ERROR, runAction } from '../errors.ts';
import { loggerFromOptions, type LogOptions } from '../logger.ts';
import { checkWritableFolder, describeWriteError } from '../output-path.ts';
import { createScanProgress } from '../progress.ts';
import {
  OPTIONAL_BATCH_COLUMNS,
  readBatchManifest,
  REQUIRED_BATCH_COLUMNS,
  rowInputHash,
} from './batch-manifest.ts';
import {
  compactPredictions,
  PREDICTIONS_FILE,
  PredictionsWriter,
  readPredictions,
} from './batch-predictions.ts';
import { runBatchRows, type BatchRunSummary } from './batch-run.ts';
import { DEFAULT_MODEL_DIR, FILE_NAME_NOT_RECORDED } from './predict.ts';

/** One shard of a manifest: rows `index - 1`, `index - 1 + count`, ... (0-based). */
export interface Shard {
  /** 1-based. */
  index: number;
  count: number;
}

interface BatchCommandOptions extends LogOptions {
  out: string;
  model: string;
  shard?: Shard;
  concurrency: number;
  explain: string;
  threads?: number;
  /** False with `--no-file-name`. */
  fileName: boolean;
}

/** Builds `dlco batch`, which runs predict on every scan of a manifest. */
export function batchCommand(): Command {
  return new Command('batch')
    .description(
      'Estimate DLCO for every scan of a manifest CSV. Writes <out>/predictions.csv and one ' +
        'result folder per id; a rerun skips ids already ok and retries failed ones. ' +
        'Research use, not diagnosis.',
    )
    .argument(
      '<manifest>',
      `CSV with columns ${REQUIRED_BATCH_COLUMNS.join(', ')} and optionally ` +
        `${OPTIONAL_BATCH_COLUMNS.join(', ')}; paths are relative to the manifest's folder`,
    )
    .requiredOption('--out <dir>', 'folder for predictions.csv and the result folders')
    .addOption(
      new Option('--model <dir>', 'model folder with model-card.json').default(
        DEFAULT_MODEL_DIR,
        'models/demo in the repository',
      ),
    )
    .option(
      '--shard <i/n>',
      'process rows i, i+n, i+2n, ... of the manifest (1-based), e.g. 2/4',
      parseShard,
    )
    .option(
      '--concurrency <k>',
      'scans in flight at once; preprocessing shares one CPU thread, so this overlaps model ' +
        'inference and I/O only (use --shard in separate processes for more cores)',
      parsePositiveInteger,
      1,
    )
    .option(
      '--explain <list>',
      `comma-separated explanations per scan: ${EXPLANATION_NAMES.join(', ')} (default adds ` +
        'attention for attention models)',
      'contributions',
    )
    .option(
      '--threads <n>',
      'ONNX Runtime threads per operator (default: one per core)',
      parsePositiveInteger,
    )
    .option(
      '--no-file-name',
      `record each scan's file name in result.json as '${FILE_NAME_NOT_RECORDED}' instead of ` +
        'its base name (file names often carry patient names)',
    )
    .action(
      runAction(async (manifest: string, _options: unknown, command: Command) => {
        const options = command.optsWithGlobals<BatchCommandOptions>();
        const explainIsDefault = command.getOptionValueSource('explain') === 'default';
        try {
          return await runBatch(manifest, options, explainIsDefault);
        } catch (error) {
          if (!isModelError(error)) throw error;
          process.stderr.write(`error [${error.code}]: ${error.message}\n`);
          return error.code === 'MODEL_NOT_FOUND' ? EXIT_INPUT_ERROR : EXIT_FAILURE;
        }
      }),
    );
}

async function runBatch(
  manifestPath: string,
  options: BatchCommandOptions,
  explainIsDefault: boolean,
): Promise<number> {
  const allRows = await readBatchManifest(manifestPath);
  const explain = parseExplanations(options.explain);
  const shard = options.shard;
  const shardRows =
    shard === undefined
      ? allRows
      : allRows.filter((_, index) => index % shard.count === shard.index - 1);
  const outDir = resolve(options.out);
  await checkWritableFolder(outDir, '--out');
  // Loaded before the output folder is created, so a missing model leaves nothing behind.
  const model = await loadModel(resolve(options.model), {
    threads: options.threads,
    logger: loggerFromOptions(options),
  });
  if (explainIsDefault && model.card.aggregator.pooling === 'attention') explain.push('attention');

  const predictions = new PredictionsWriter(join(outDir, PREDICTIONS_FILE));
  try {
    await mkdir(outDir, { recursive: true });
    await predictions.init();
  } catch (error) {
    throw describeWriteError(error, outDir, '--out');
  }
  const done = await readPredictions(predictions.path);
  // A row is skipped only when it was predicted from the same path and cells as now.
  const rows = shardRows.filter((row) => {
    const previous = done.get(row.id);
    return previous?.status !== 'ok' || previous.input_hash !== rowInputHash(row);
  });
  const skipped = shardRows.length - rows.length;

  const progress = createScanProgress(rows.length, process.stderr, 'batch');
  // Log lines go through the progress reporter so that they do not break the bar.
  const logger = loggerFromOptions(options, (line) => progress.log(line.trimEnd()));
  if (skipped > 0) progress.log(`${skipped} scans already ok in ${predictions.path}, skipped`);
  let summary: BatchRunSummary;
  try {
    summary = await runBatchRows(rows, {
      model,
      outDir,
      explain,
      concurrency: options.concurrency,
      recordFileName: options.fileName,
      predictions,
      logger,
      progress,
    });
  } finally {
    progress.stop();
  }
  // Other shards may be appending to the same file, so only an unsharded run compacts it.
  if (shard === undefined) {
    await compactPredictions(predictions.path, allRows.map((row) => row.id));
  }

  const { ok, failures } = summary;
  process.stdout.write(
    `${ok.length} predicted, ${skipped} skipped (already ok), ${failures.length} failed ` +
      `(out: ${predictions.path})\n`,
  );
  if (failures.length === 0) return 0;
  process.stderr.write(`${failures.length} of ${shardRows.length} scans failed:\n`);
  for (const failure of failures) {
    process.stderr.write(`  ${failure.id}: error [${failure.code}]: ${failure.message}\n`);
  }
  return failures.every((failure) => failure.inputError) ? EXIT_INPUT_ERROR : EXIT_FAILURE;
}

function parseExplanations(list: string): ExplanationName[] {
  const names = list
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name !== '');
  const unknown = names.filter((name) => !(EXPLANATION_NAMES as readonly string[]).includes(name));
  if (unknown.length > 0) {
    throw new ModelError(
      'MODEL_INPUT_INVALID',
      `invalid --explain '${list}': unknown ${unknown.join(', ')}; choose from ` +
        EXPLANATION_NAMES.join(', '),
      { received: unknown },
    );
  }
  return names as ExplanationName[];
}

/**
 * Parses `--shard I/N` with whole numbers 1 ≤ I ≤ N. Commander prefixes an error with the option
 * and the value, so the message gives only the expected form.
 */
export function parseShard(text: string): Shard {
  const match = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(text);
  const index = match === null ? NaN : Number(match[1]);
  const count = match === null ? NaN : Number(match[2]);
  if (!(count >= 1 && index >= 1 && index <= count)) {
    throw new InvalidArgumentError('Expected I/N with whole numbers 1 <= I <= N, e.g. 1/4.');
  }
  return { index, count };
}

function parsePositiveInteger(text: string): number {
  const value = Number(text);
  if (!/^\s*\d+\s*$/.test(text) || value < 1) {
    throw new InvalidArgumentError('Expected a whole number >= 1.');
  }
  return value;
}
