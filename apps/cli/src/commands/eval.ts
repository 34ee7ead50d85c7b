import { basename, dirname, resolve } from 'node:path';

import {
  DEFAULT_BOOTSTRAP_RESAMPLES,
  DEFAULT_BOOTSTRAP_SEED,
  DEFAULT_MIN_STRATUM_SIZE,
  ALL_PHENOTYPES,
  checkEvaluationOutDir,
  evaluateFaithfulness,
  evaluatePredictions,
  EvalInputError,
  findExampleMap,
  hasTruthPaths,
  isEvalInputError,
  MAX_BOOTSTRAP_RESAMPLES,
  MAX_BOOTSTRAP_SEED,
  MIN_BOOTSTRAP_RESAMPLES,
  NEGATIVE_CONTROL_PHENOTYPE,
  readLabelsFile,
  readPredictionsFile,
  TRUTH_PATH_COLUMN,
  writeEvaluation,
  type EvaluationReport,
  type ExplanationSource,
  type FaithfulnessReport,
  type Interval,
  type LabelsFile,
  type PredictionsFile,
} from '@dlco/eval';
import { Command, InvalidArgumentError } from 'commander';

import { EXIT_INPUT_ERROR, runAction } from '../errors.ts';
import { checkOutputFolder, describeWriteError } from '../output-path.ts';

interface EvalCommandOptions {
  labels: string;
  out: string;
  baseline?: string;
  strata?: string;
  bootstrap: number;
  seed: number;
  minStratumSize: number;
  results?: string;
  explanation: ExplanationSource[];
  faithfulness: boolean;
  example?: string;
}

/** Builds `dlco eval`, which scores predictions against measured DLCO. */
export function evalCommand(): Command {
  return new Command('eval')
    .description(
      'Evaluate predictions against measured DLCO: agreement metrics, impairment detection, ' +
        'strata, calibration and comparison with a baseline, with seeded 95 % bootstrap ' +
        'intervals. Writes metrics.json, CSV tables and a self-contained report.html to --out.',
    )
    .argument('<predictions>', 'predictions CSV with columns id and estimate (ml/min/mmHg)')
    .requiredOption(
      '--labels <csv>',
      'label manifest CSV with columns id and dlco (measured, ml/min/mmHg) and metadata such ' +
        'as age, sex, height_cm, weight_kg, smoking, phenotype, scanner_profile',
    )
    .requiredOption(
      '--out <dir>',
      'output folder; it must be missing, empty or contain only an earlier evaluation, ' +
        'which is replaced',
    )
    .option('--baseline <csv>', 'another predictions CSV to compare with, subject by subject')
    .option('--strata <columns>', 'comma-separated manifest columns to stratify by as well')
    .option(
      '--bootstrap <n>',
      `number of bootstrap resamples of subjects, ${MIN_BOOTSTRAP_RESAMPLES} to ` +
        `${MAX_BOOTSTRAP_RESAMPLES}`,
      (text) => parseWholeNumber(text, MIN_BOOTSTRAP_RESAMPLES, MAX_BOOTSTRAP_RESAMPLES),
      DEFAULT_BOOTSTRAP_RESAMPLES,
    )
    .option(
      '--seed <s>',
      `seed of the bootstrap generator, 0 to ${MAX_BOOTSTRAP_SEED}, recorded in metrics.json`,
      (text) => parseWholeNumber(text, 0, MAX_BOOTSTRAP_SEED),
      DEFAULT_BOOTSTRAP_SEED,
    )
    .option(
      '--min-stratum-size <n>',
      'strata levels with fewer subjects are flagged too small and left out of the gap',
      (text) => parseWholeNumber(text, 1, Number.MAX_SAFE_INTEGER),
      DEFAULT_MIN_STRATUM_SIZE,
    )
    .option(
      '--results <dir>',
      'folder with one <id>/result.json per scan, for explanation faithfulness when the labels ' +
        'have a truth_path column (default: the folder of the predictions CSV)',
    )
    .option(
      '--explanation <name=csv>',
      'extra explanation method from a CSV with columns id, patch_index, value (attributed ' +
        'deficit, larger is more); repeatable',
      collectExplanation,
      [],
    )
    .option('--no-faithfulness', 'skip explanation faithfulness even when truth_path is present')
    .option(
      '--example <id>',
      'subject whose map from the results folder (<id>/overlay.png, else <id>/map.nii.gz) is ' +
        'shown in report.html (default: the largest estimated deficit with a map)',
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
  // The output folder is checked before any file is read, so a bad --out fails at once and an
  // existing folder with other files is never replaced.
  const outDir = resolve(options.out);
  await checkOutputFolder(outDir, '--out');
  await checkEvaluationOutDir(outDir);
  if (!options.faithfulness && options.explanation.length > 0) {
    throw new EvalInputError(
      'EVAL_INPUT_INVALID',
      '--explanation is scored only by the faithfulness evaluation, which --no-faithfulness ' +
        'turns off. Drop one of the two.',
      { column: 'explanation' },
    );
  }
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
  for (const warning of report.warnings) process.stderr.write(`warning: ${warning}\n`);
  const resultsDir = resolve(options.results ?? dirname(resolve(predictionsPath)));
  const example = await findExampleMap(resultsDir, report, options.example);
  if (options.example !== undefined && example.kind === 'missing') {
    process.stderr.write(`warning: no example map in report.html: ${example.message}\n`);
  }
  if (example.kind === 'image') {
    for (const skipped of example.unreadable ?? []) {
      process.stderr.write(`warning: example map skipped, cannot read ${skipped}\n`);
    }
  }
  const faithfulness = await runFaithfulness(predictions, labels, options);
  const full: EvaluationReport = faithfulness ? { ...report, faithfulness } : report;
  try {
    await writeEvaluation(full, outDir, { example });
  } catch (error) {
    throw describeWriteError(error, outDir, '--out');
  }
  process.stdout.write(summarize(full, outDir));
  return 0;
}

/**
 * Scores the explanations against the truth when the labels have a truth_path column, unless
 * --no-faithfulness is given. When neither --results nor --explanation requests it and no
 * subject has a result folder next to the predictions CSV, faithfulness is skipped with a
 * warning, so a predictions CSV copied away from its results still gets the agreement metrics.
 *
 * @throws EvalInputError `EVAL_COLUMN_MISSING` when --results or --explanation is given but
 *   the labels have no truth_path column, so the request cannot be met.
 */
async function runFaithfulness(
  predictions: PredictionsFile,
  labels: LabelsFile,
  options: EvalCommandOptions,
): Promise<FaithfulnessReport | undefined> {
  const requested = options.results !== undefined || options.explanation.length > 0;
  if (!options.faithfulness) return undefined;
  if (!hasTruthPaths(labels)) {
    if (!requested) return undefined;
    throw new EvalInputError(
      'EVAL_COLUMN_MISSING',
      `--results and --explanation need ground-truth deficit maps, but ${labels.path} has no ` +
        `${TRUTH_PATH_COLUMN} column. Pass the manifest.csv of a simulated cohort or drop them.`,
      { file: labels.path, column: TRUTH_PATH_COLUMN },
    );
  }
  let faithfulness: FaithfulnessReport;
  try {
    faithfulness = await evaluateFaithfulness(predictions, labels, {
      resamples: options.bootstrap,
      seed: options.seed,
      resultsDir: options.results === undefined ? undefined : resolve(options.results),
      explanations: options.explanation,
      onSubject: (_id, done, total) => {
        if (done % FAITHFULNESS_PROGRESS_STEP === 0 || done === total) {
          process.stderr.write(`faithfulness: ${done}/${total} subjects\n`);
        }
      },
    });
  } catch (error) {
    if (requested || !isEvalInputError(error) || error.code !== 'EVAL_TOO_FEW_SUBJECTS') {
      throw error;
    }
    process.stderr.write(`warning: faithfulness skipped: ${error.message}\n`);
    return undefined;
  }
  for (const warning of faithfulness.warnings) process.stderr.write(`warning: ${warning}\n`);
  return faithfulness;
}

/** Subjects between two faithfulness progress lines on stderr. */
const FAITHFULNESS_PROGRESS_STEP = 25;

function collectExplanation(text: string, previous: ExplanationSource[]): ExplanationSource[] {
  const separator = text.indexOf('=');
  if (separator <= 0 || separator === text.length - 1) {
    throw new InvalidArgumentError('Expected NAME=CSV, for example gradcam=gradcam.csv.');
  }
  return [...previous, { name: text.slice(0, separator), path: text.slice(separator + 1) }];
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
  if (report.faithfulness) lines.push(...summarizeFaithfulness(report.faithfulness));
  for (const failed of subjects.failed) lines.push(`failed: ${failed.id}: ${failed.error}`);
  lines.push(`out: ${outDir}`);
  return `${lines.join('\n')}\n`;
}

/**
 * Formats one line per method of the `all` faithfulness group and of the negative control,
 * which `all` leaves out.
 */
function summarizeFaithfulness(faithfulness: FaithfulnessReport): string[] {
  const { subjects } = faithfulness;
  const lines = [
    `faithfulness: ${subjects.evaluated} subjects with truth, ` +
      `${subjects.missingResults.length} without result.json, ` +
      `${subjects.missingTruth.length} without truth files, ` +
      `${subjects.withoutTruthPath.length} with an empty truth_path`,
  ];
  const shown = [ALL_PHENOTYPES, NEGATIVE_CONTROL_PHENOTYPE];
  for (const group of faithfulness.groups) {
    if (!shown.includes(group.phenotype)) continue;
    const parts = (['zoneSpearman', 'pointingGame', 'recoveryAuc'] as const)
      .filter((metric) => group.metrics[metric] !== undefined)
      .map((metric) => {
        const value = group.metrics[metric]!;
        return `${metric} ${formatInterval(value)} (n ${value.n}, ${value.nUndefined} undefined)`;
      });
    const label =
      group.phenotype === ALL_PHENOTYPES ? '' : ` (${group.phenotype}, negative control)`;
    lines.push(`  ${group.method}${label}: ${parts.join(', ')}`);
  }
  return lines;
}

/**
 * Parses a whole-number option within [minimum, maximum]. Commander prefixes an error with the
 * option and the value, so the message gives only the expected form.
 */
function parseWholeNumber(text: string, minimum: number, maximum: number): number {
  const value = Number(text);
  if (!/^\s*\d+\s*$/.test(text) || value < minimum || value > maximum) {
    throw new InvalidArgumentError(`Expected a whole number from ${minimum} to ${maximum}.`);
  }
  return value;
}
