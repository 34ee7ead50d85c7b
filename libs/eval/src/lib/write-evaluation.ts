import { randomBytes } from 'node:crypto';
import { mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

import { from } from 'arquero';

import type { Interval } from './bootstrap.ts';
import { EvalInputError } from './errors.ts';
import { AGREEMENT_METRICS } from './evaluate-agreement.ts';
import type { EvaluationReport } from './evaluate.ts';
import { FAITHFULNESS_FILES, faithfulnessTables } from './faithfulness-tables.ts';
import type { ExampleMap } from './report/example-map.ts';
import { renderReportHtml } from './report/report-html.ts';

/** Files that {@link writeEvaluation} writes into the output folder. */
export const EVALUATION_FILES = {
  metrics: 'metrics.json',
  overall: 'overall.csv',
  classification: 'classification.csv',
  strata: 'strata.csv',
  comparisons: 'comparisons.csv',
  calibration: 'calibration.csv',
  calibrationBins: 'calibration_bins.csv',
  subjects: 'subjects.csv',
  report: 'report.html',
} as const;

/** Settings of {@link writeEvaluation}. */
export interface WriteEvaluationOptions {
  /** Regional map shown in report.html, or why there is none; see `findExampleMap`. */
  readonly example?: ExampleMap;
}

function intervalColumns(prefix: string, interval: Interval): Record<string, number> {
  return {
    [prefix]: interval.estimate,
    [`${prefix}_lower`]: interval.lower,
    [`${prefix}_upper`]: interval.upper,
  };
}

/** Builds the CSV tables of a report, keyed by file name. */
export function evaluationTables(report: EvaluationReport): Record<string, string> {
  const overall = AGREEMENT_METRICS.map(({ name, unit, label }) => ({
    metric: name,
    unit,
    description: label,
    n: report.n,
    ...intervalColumns('value', report.overall[name]),
  }));
  const classification = report.classification.thresholds.flatMap((threshold) =>
    (['auc', 'sensitivity', 'specificity', 'ppv', 'npv'] as const).map((metric) => ({
      threshold: threshold.threshold,
      metric,
      n: threshold.n,
      positives: threshold.positives,
      ...intervalColumns('value', threshold[metric]),
    })),
  );
  const strata = report.strata.flatMap((stratum) =>
    stratum.levels.map((level) => ({
      stratum: stratum.stratum,
      level: level.level,
      n: level.n,
      too_small: level.tooSmall,
      ...intervalColumns('mae_ml_min_mmhg', level.mae),
      ...intervalColumns('bias_ml_min_mmhg', level.bias),
      is_worst: stratum.gap?.worstLevel === level.level,
      is_best: stratum.gap?.bestLevel === level.level,
      ...intervalColumns('gap_mae_ml_min_mmhg', stratum.gap?.maeDifference ?? NO_INTERVAL),
    })),
  );
  const comparisons = report.comparisons.map((comparison) => ({
    predictor: comparison.name,
    against: comparison.against,
    n: comparison.n,
    ...intervalColumns('mae_ml_min_mmhg', comparison.mae),
    ...intervalColumns('mae_against_ml_min_mmhg', comparison.maeAgainst),
    ...intervalColumns('mae_difference_ml_min_mmhg', comparison.maeDifference),
  }));
  return {
    ...calibrationTables(report),
    [EVALUATION_FILES.subjects]: toCsv(
      report.points.map((point) => ({
        id: point.id,
        measured: point.measured,
        estimate: point.estimate,
        difference: point.estimate - point.measured,
        lower: point.lower,
        upper: point.upper,
        predicted: point.predicted,
        phenotype: point.phenotype,
        model_id: point.modelId,
        model_version: point.modelVersion,
      })),
    ),
    [EVALUATION_FILES.overall]: toCsv(overall),
    [EVALUATION_FILES.classification]: toCsv(classification),
    [EVALUATION_FILES.strata]: toCsv(strata),
    [EVALUATION_FILES.comparisons]: toCsv(comparisons),
    ...faithfulnessTables(report.faithfulness),
  };
}

function calibrationTables(report: EvaluationReport): Record<string, string> {
  const { slope, intercept, bins, intervalCoverage } = report.calibration;
  const row = (statistic: string, unit: string, n: number, interval: Interval) => ({
    statistic,
    unit,
    n,
    ...intervalColumns('value', interval),
  });
  const rows = [
    row('slope', '1', report.n, slope),
    row('intercept', 'ml/min/mmHg', report.n, intercept),
  ];
  if (intervalCoverage !== null) {
    const { n, coverage, meanWidth } = intervalCoverage;
    rows.push(
      row('interval_coverage', 'fraction', n, coverage),
      row('interval_mean_width', 'ml/min/mmHg', n, meanWidth),
    );
  }
  const binRows = bins.map((bin) => ({
    bin: bin.bin,
    n: bin.n,
    min_estimate: bin.minEstimate,
    max_estimate: bin.maxEstimate,
    mean_estimate: bin.meanEstimate,
    mean_measured: bin.meanMeasured,
  }));
  return {
    [EVALUATION_FILES.calibration]: toCsv(rows),
    [EVALUATION_FILES.calibrationBins]: toCsv(binRows),
  };
}

const NO_INTERVAL: Interval = { estimate: NaN, lower: NaN, upper: NaN, undefinedResamples: 0 };

function toCsv(rows: Record<string, unknown>[]): string {
  if (rows.length === 0) return '';
  // NaN (an undefined statistic) becomes an empty cell rather than the text NaN.
  const cleaned = rows.map((row) =>
    Object.fromEntries(
      Object.entries(row).map(([key, value]) => [
        key,
        typeof value === 'number' && Number.isNaN(value) ? null : value,
      ]),
    ),
  );
  return `${from(cleaned).toCSV()}\n`;
}

/** Every file name an evaluation may write; an existing --out may contain only these. */
const KNOWN_OUTPUT_FILES: ReadonlySet<string> = new Set([
  ...Object.values(EVALUATION_FILES),
  ...Object.values(FAITHFULNESS_FILES),
]);

/**
 * Checks that `outDir` may receive an evaluation: it is missing, an empty folder, or a folder
 * that contains metrics.json and nothing but other files an evaluation writes. Callers run it
 * before the computation to fail early, and {@link writeEvaluation} runs it again before it
 * replaces the folder, so files the tool did not write are never deleted.
 *
 * @throws EvalInputError `EVAL_INPUT_INVALID` when `outDir` is not a folder, and
 *   `OUTPUT_EXISTS` when it contains other files.
 */
export async function checkEvaluationOutDir(outDir: string): Promise<void> {
  const existing = await stat(outDir).catch(() => null);
  if (existing === null) return;
  if (!existing.isDirectory()) {
    throw new EvalInputError(
      'EVAL_INPUT_INVALID',
      `--out ${outDir} exists and is not a folder. Pass a new or empty folder.`,
      { column: 'out' },
    );
  }
  const entries = await readdir(outDir);
  if (entries.length === 0) return;
  const others = entries.filter((entry) => !KNOWN_OUTPUT_FILES.has(entry));
  if (others.length > 0 || !entries.includes(EVALUATION_FILES.metrics)) {
    const shown = others.length > 0 ? others : entries;
    const listed = shown.slice(0, 5).join(', ') + (shown.length > 5 ? ', ...' : '');
    throw new EvalInputError(
      'OUTPUT_EXISTS',
      `--out ${outDir} contains files that are not part of an earlier dlco eval output ` +
        `(${listed}), and the evaluation replaces the whole folder. Pass a new or empty ` +
        'folder to --out, or a folder holding only an earlier evaluation.',
      { column: 'out' },
    );
  }
}

/**
 * Converts a failed rename into place into `OUTPUT_EXISTS` when the folder appeared or vanished
 * meanwhile, as when two evaluations write the same --out at once, and returns other errors
 * unchanged.
 *
 * NOTE: no test covers this path, because four parallel runs on one folder did not reproduce
 * the race.
 */
function describeRenameError(error: unknown, outDir: string): unknown {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code !== 'ENOTEMPTY' && code !== 'EEXIST' && code !== 'ENOENT') return error;
  return new EvalInputError(
    'OUTPUT_EXISTS',
    `--out ${outDir} changed while this evaluation was moving its files into place ` +
      `(${code}), probably because another dlco eval wrote the same folder. Run one ` +
      'evaluation per folder at a time.',
    { column: 'out', cause: error },
  );
}

/**
 * Writes metrics.json, the CSV tables and report.html of {@link EVALUATION_FILES} into
 * `outDir`. Per-subject values go to subjects.csv and report.html, not metrics.json. The files
 * are written to a temporary sibling folder first, which then replaces `outDir` by rename, so
 * readers never see a half-written evaluation. An existing `outDir` is replaced only when
 * {@link checkEvaluationOutDir} accepts it.
 *
 * @throws EvalInputError `EVAL_INPUT_INVALID` when `outDir` exists and is not a folder, and
 *   `OUTPUT_EXISTS` when it contains files an evaluation does not write.
 */
export async function writeEvaluation(
  report: EvaluationReport,
  outDir: string,
  options: WriteEvaluationOptions = {},
): Promise<void> {
  await checkEvaluationOutDir(outDir);
  const existing = await stat(outDir).catch(() => null);
  await mkdir(dirname(outDir), { recursive: true });
  const suffix = randomBytes(4).toString('hex');
  const staging = join(dirname(outDir), `.${basename(outDir)}.tmp-${suffix}`);
  const retired = join(dirname(outDir), `.${basename(outDir)}.old-${suffix}`);

  let renaming = false;
  try {
    await mkdir(staging);
    // NaN is not valid JSON, so undefined statistics are written as null.
    const { points: _points, ...metrics } = report;
    const json = JSON.stringify(metrics, (_key, value) => (Number.isNaN(value) ? null : value), 2);
    await writeFile(join(staging, EVALUATION_FILES.metrics), `${json}\n`);
    await writeFile(join(staging, EVALUATION_FILES.report), renderReportHtml(report, options));
    for (const [name, text] of Object.entries(evaluationTables(report))) {
      await writeFile(join(staging, name), text);
    }
    renaming = true;
    if (existing !== null) await rename(outDir, retired);
    await rename(staging, outDir);
  } catch (error) {
    await rm(staging, { recursive: true, force: true });
    // Puts the previous evaluation back if it was moved aside before the failure.
    if (existing !== null) await rename(retired, outDir).catch(() => undefined);
    throw renaming ? describeRenameError(error, outDir) : error;
  }
  await rm(retired, { recursive: true, force: true });
}
