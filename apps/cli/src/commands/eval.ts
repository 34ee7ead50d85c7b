import { basename, resolve } from 'node:path';

import {
  DEFAULT_BOOTSTRAP_RESAMPLES,
  DEFAULT_BOOTSTRAP_SEED,
  DEFAULT_MIN_STRATUM_SIZE,
  evaluatePredictions,
  isEvalInputError,
  readLabelsFile,
  readPredictionsFile,
  writeEvaluation,
  type EvaluationReport,
  type Interval,
} from '@dlco/eval';
import { Command, InvalidArgumentError } from 'commander';

import { EXIT_INPUT_ERROR, runAction } from '../errors.ts';

interface EvalCommandOptions {
  labels: string;
  out: string;
  baseline?: string;
  strata?: string;
  bootstrap: number;
  seed: number;
  minStratumSize: number;
}

/** Builds `dlco eval`, which scores predictions against measured DLCO. */
export function evalCommand(): Command {
  return new Command('eval')
    .description(
      'Evaluate predictions against measured DLCO: agreement metrics, impairment detection, ' +
        'strata and comparison with a baseline, with seeded 95 % bootstrap intervals. Writes ' +
        'metrics.json and CSV tables to --out.',
    )
    .argument('<predictions>', 'predictions CSV with columns id and estimate (ml/min/mmHg)')
    .requiredOption(
      '--labels <csv>',
      'label manifest CSV with columns id and dlco (measured, ml/min/mmHg) and metadata such ' +
        'as age, sex, height_cm, weight_kg, smoking, phenotype, scanner_profile',
    )
    .requiredOption('--out <dir>', 'output folder; an existing one is replaced')
    .option('--baseline <csv>', 'another predictions CSV to compare with, subject by subject')
    .option('--strata <columns>', 'comma-separated manifest columns to stratify by as well')
    .option(
      '--bootstrap <n>',
      'number of bootstrap resamples of subjects',
      (text) => parseWholeNumber(text, '--bootstrap', 1),
      DEFAULT_BOOTSTRAP_RESAMPLES,
    )
    .option(
      '--seed <s>',
      'seed of the bootstrap generator, recorded in metrics.json',
      (text) => parseWholeNumber(text, '--seed', 0),
      DEFAULT_BOOTSTRAP_SEED,
    )
    .option(
      '--min-stratum-size <n>',
      'strata levels with fewer subjects are flagged too small and left out of the gap',
      (text) => parseWholeNumber(text, '--min-stratum-size', 1),
      DEFAULT_MIN_STRATUM_SIZE,
    )
    .action(
      runAction(async (predictionsPath: string, options: EvalCommandOptions) => {
        try {
          return await runEval(predictionsPath, options);
        } catch (error) {
          if (!isEvalInputError(error)) throw error;
          process.stderr.write(`error [${error.code}]: ${error.message}\n`);
          return EXIT_INPUT_ERROR;
        }
      }),
    );
}

async function runEval(predictionsPath: string, options: EvalCommandOptions): Promise<number> {
  const predictions = await readPredictionsFile(resolve(predictionsPath));
  const labels = await readLabelsFile(resolve(options.labels));
  const other =
    options.baseline === undefined
      ? undefined
      : {
          name: basename(options.baseline),
          predictions: await readPredictionsFile(resolve(options.baseline)),
        };
  const strata = (options.strata ?? '')
    .split(',')
    .map((column) => column.trim())
    .filter((column) => column !== '');

  const report = evaluatePredictions(predictions, labels, {
    resamples: options.bootstrap,
    seed: options.seed,
    minStratumSize: options.minStratumSize,
    strata,
    other,
  });
  const outDir = resolve(options.out);
  await writeEvaluation(report, outDir);
  process.stdout.write(summarize(report, outDir));
  return 0;
}

function formatInterval(interval: Interval, digits = 2): string {
  const format = (value: number) => (Number.isNaN(value) ? 'n/a' : value.toFixed(digits));
  return `${format(interval.estimate)} [${format(interval.lower)}, ${format(interval.upper)}]`;
}

/** Formats the headline numbers of a report for stdout. */
export function summarize(report: EvaluationReport, outDir: string): string {
  const { subjects, overall } = report;
  const lines = [
    `${report.n} subjects evaluated, ${subjects.failed.length} failed predictions, ` +
      `${subjects.labelsOnly.length} labels without prediction, ` +
      `${subjects.predictionsOnly.length} predictions without label`,
    `MAE ${formatInterval(overall.mae)} ml/min/mmHg, bias ${formatInterval(overall.bias)} ` +
      `ml/min/mmHg, CCC ${formatInterval(overall.ccc, 3)} ` +
      `(95 % bootstrap, ${report.resamples} resamples, seed ${report.seed})`,
  ];
  for (const comparison of report.comparisons) {
    lines.push(
      `MAE ${comparison.name} minus ${comparison.against}: ` +
        `${formatInterval(comparison.maeDifference)} ml/min/mmHg on ${comparison.n} subjects`,
    );
  }
  for (const failed of subjects.failed) lines.push(`failed: ${failed.id}: ${failed.error}`);
  lines.push(`out: ${outDir}`);
  return `${lines.join('\n')}\n`;
}

function parseWholeNumber(text: string, flag: string, minimum: number): number {
  const value = Number(text);
  if (!/^\s*\d+\s*$/.test(text) || value < minimum) {
    throw new InvalidArgumentError(
      `invalid ${flag} '${text}': expected a whole number >= ${minimum}`,
    );
  }
  return value;
}
