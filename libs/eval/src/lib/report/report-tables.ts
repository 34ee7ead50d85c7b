import { AGREEMENT_METRICS } from '../evaluate-agreement.ts';
import type { EvaluationReport } from '../evaluate.ts';
import {
  escapeHtml,
  formatInterval,
  formatNumber,
  formatPercent,
  htmlTable,
} from './html-format.ts';

const percentInterval = (value: number) => formatPercent(value);

/** Agreement metrics with their 95 % intervals. */
export function overallTable(report: EvaluationReport): string {
  const rows = AGREEMENT_METRICS.map(({ name, unit, label }) => {
    const interval = report.overall[name];
    if (unit === 'fraction') return [label, formatInterval(interval, percentInterval), '%'];
    if (unit === '1') {
      return [label, formatInterval(interval, (value) => formatNumber(value, 3)), 'unitless'];
    }
    return [label, formatInterval(interval), unit];
  });
  return htmlTable(['Metric', 'Estimate [95 % interval]', 'Unit'], rows, 'metrics');
}

/** Impairment detection at each threshold. */
export function classificationTable(report: EvaluationReport): string {
  const { thresholds, excluded } = report.classification;
  const rate = (interval: Parameters<typeof formatInterval>[0]) =>
    formatInterval(interval, percentInterval);
  const rows = thresholds.map((threshold) => [
    threshold.label,
    threshold.n,
    threshold.positives,
    formatInterval(threshold.auc, (value) => formatNumber(value, 3)),
    rate(threshold.sensitivity),
    rate(threshold.specificity),
    rate(threshold.ppv),
    rate(threshold.npv),
  ]);
  const table = htmlTable(
    ['Impairment (measured)', 'n', 'Impaired', 'AUC', 'Sensitivity', 'Specificity', 'PPV', 'NPV'],
    rows,
  );
  const note =
    excluded.length === 0
      ? ''
      : `<p>${excluded.length} subjects without a usable age, sex or height are left out: ` +
        `${escapeHtml(excluded.map((subject) => `${subject.id} (${subject.reason})`).join(', '))}.</p>`;
  return table + note;
}

/** Calibration slope and intercept, interval coverage and the bins of the calibration plot. */
export function calibrationTables(report: EvaluationReport): string {
  const { slope, intercept, bins, intervalCoverage } = report.calibration;
  const rows: (string | number)[][] = [
    [
      'Slope of measured on estimate',
      formatInterval(slope, (v) => formatNumber(v, 3)),
      'unitless',
      report.n,
    ],
    ['Intercept', formatInterval(intercept), 'ml/min/mmHg', report.n],
  ];
  if (intervalCoverage !== null) {
    rows.push(
      [
        'Coverage of the lower-upper prediction interval',
        formatInterval(intervalCoverage.coverage, percentInterval),
        '%',
        intervalCoverage.n,
      ],
      [
        'Mean interval width',
        formatInterval(intervalCoverage.meanWidth),
        'ml/min/mmHg',
        intervalCoverage.n,
      ],
      [
        'Measured below the lower bound',
        formatPercent(intervalCoverage.belowLower),
        '%',
        intervalCoverage.n,
      ],
      [
        'Measured above the upper bound',
        formatPercent(intervalCoverage.aboveUpper),
        '%',
        intervalCoverage.n,
      ],
    );
  }
  const summary = htmlTable(
    ['Statistic', 'Estimate [95 % interval]', 'Unit', 'n'],
    rows,
    'metrics',
  );
  const coverageNote =
    intervalCoverage === null
      ? '<p>predictions.csv has no lower and upper columns, so interval coverage is not computed.</p>'
      : '<p>Compare the coverage with the nominal level of the interval: <code>dlco batch</code> ' +
        "writes the model card's interval, nominally 95 %.</p>";
  const binRows = bins.map((bin) => [
    bin.bin,
    bin.n,
    `${formatNumber(bin.minEstimate)} to ${formatNumber(bin.maxEstimate)}`,
    formatNumber(bin.meanEstimate),
    formatNumber(bin.meanMeasured),
  ]);
  const binTable = htmlTable(
    ['Bin', 'n', 'Estimate range', 'Mean estimate', 'Mean measured'],
    binRows,
  );
  return `${summary}\n${coverageNote}\n<details><summary>Calibration bins (ml/min/mmHg)</summary>\n${binTable}\n</details>`;
}

/** MAE and bias per stratum level, with the gap between the worst and best level. */
export function strataTable(report: EvaluationReport): string {
  if (report.strata.length === 0)
    return '<p>No strata: the manifest has no metadata columns to stratify by.</p>';
  const rows = report.strata.flatMap((stratum) =>
    stratum.levels.map((level) => [
      stratum.stratum,
      level.level,
      level.n,
      formatInterval(level.mae),
      formatInterval(level.bias),
      level.tooSmall ? `too small (n < ${report.minStratumSize})` : '',
    ]),
  );
  const levels = htmlTable(['Stratum', 'Level', 'n', 'MAE', 'Bias', 'Flag'], rows);
  const gapRows = report.strata.map((stratum) =>
    stratum.gap === null
      ? [stratum.stratum, 'fewer than two readable levels', '', '']
      : [
          stratum.stratum,
          stratum.gap.worstLevel,
          stratum.gap.bestLevel,
          formatInterval(stratum.gap.maeDifference),
        ],
  );
  const gaps = htmlTable(['Stratum', 'Worst level', 'Best level', 'MAE worst minus best'], gapRows);
  return `${levels}\n<h3>Subgroup gaps (ml/min/mmHg)</h3>\n${gaps}`;
}

/** Paired MAE comparisons with the baseline column and another predictions file. */
export function comparisonsTable(report: EvaluationReport): string {
  if (report.comparisons.length === 0) {
    return '<p>No comparison: predictions.csv has no baseline_estimate values and no --baseline file was given.</p>';
  }
  const rows = report.comparisons.map((comparison) => [
    comparison.name,
    comparison.against,
    comparison.n,
    formatInterval(comparison.mae),
    formatInterval(comparison.maeAgainst),
    formatInterval(comparison.maeDifference),
  ]);
  return htmlTable(
    [
      'Predictor',
      'Compared with',
      'n',
      'MAE',
      'MAE of the other',
      'Difference (negative favours the predictor)',
    ],
    rows,
  );
}
