import { compile, type TopLevelSpec } from 'vega-lite';

import type { EvaluationReport } from '../evaluate.ts';
import { faithfulnessSpec } from './report-faithfulness.ts';

/**
 * Names of the plotted marks. Vega-Lite names the mark of a layer called `scatter_points`
 * `scatter_points_marks`, and Vega's SVG renderer adds that name to the class of the mark's
 * group, so tests can count a plot's points with a selector such as `g.scatter_points_marks path`.
 */
export const CHART_MARKS = {
  scatterPoints: 'scatter_points_marks',
  blandAltmanPoints: 'bland_altman_points_marks',
  blandAltmanLines: 'bland_altman_lines_marks',
  forestPoints: 'forest_points_marks',
  forestIntervals: 'forest_intervals_marks',
  calibrationBins: 'calibration_bins_marks',
  identityLine: 'identity_line_marks',
} as const;

/** Unit of every DLCO axis. */
const DLCO_UNIT = 'ml/min/mmHg';
const PLOT_SIZE = 340;
const NEUTRAL = '#4c78a8';
const REFERENCE_LINE = '#888888';

/** Lowest and highest value with 5 % margin, so points do not sit on the frame. */
function paddedRange(values: readonly number[]): [number, number] {
  const finite = values.filter(Number.isFinite);
  if (finite.length === 0) return [0, 1];
  const low = Math.min(...finite);
  const high = Math.max(...finite);
  const margin = Math.max((high - low) * 0.05, 0.5);
  return [low - margin, high + margin];
}

function identityLayer(range: [number, number], xField: string, yField: string) {
  return {
    name: 'identity_line',
    data: { values: range.map((value) => ({ [xField]: value, [yField]: value })) },
    mark: { type: 'line', color: REFERENCE_LINE, strokeDash: [5, 4], clip: true },
    encoding: {
      x: { field: xField, type: 'quantitative' },
      y: { field: yField, type: 'quantitative' },
    },
  } as const;
}

/** Estimated against measured DLCO, one point per subject, coloured by phenotype when known. */
export function scatterSpec(report: EvaluationReport): TopLevelSpec {
  const points = report.points;
  const range = paddedRange(points.flatMap((point) => [point.measured, point.estimate]));
  const hasPhenotype = points.some((point) => point.phenotype !== '');
  const axis = (title: string) => ({ title, scale: { domain: range, nice: false, zero: false } });
  return {
    width: PLOT_SIZE,
    height: PLOT_SIZE,
    layer: [
      identityLayer(range, 'measured', 'estimate'),
      {
        name: 'scatter_points',
        data: {
          values: points.map((point) => ({
            ...point,
            phenotype: point.phenotype === '' ? 'not given' : point.phenotype,
          })),
        },
        mark: { type: 'point', filled: true, size: 45, opacity: 0.8 },
        encoding: {
          x: { field: 'measured', type: 'quantitative', ...axis(`Measured DLCO (${DLCO_UNIT})`) },
          y: { field: 'estimate', type: 'quantitative', ...axis(`Estimated DLCO (${DLCO_UNIT})`) },
          color: hasPhenotype
            ? { field: 'phenotype', type: 'nominal', title: 'Phenotype' }
            : { value: NEUTRAL },
          tooltip: [
            { field: 'id', title: 'Subject' },
            { field: 'measured', format: '.2f', title: 'Measured' },
            { field: 'estimate', format: '.2f', title: 'Estimate' },
            { field: 'phenotype', title: 'Phenotype' },
          ],
        },
      },
    ],
  } as TopLevelSpec;
}

/** Bland-Altman plot: difference against mean, with the bias and 95 % limits of agreement. */
export function blandAltmanSpec(report: EvaluationReport): TopLevelSpec {
  const values = report.points.map((point) => ({
    id: point.id,
    mean: (point.estimate + point.measured) / 2,
    difference: point.estimate - point.measured,
  }));
  const { bias, limitsOfAgreementLower, limitsOfAgreementUpper } = report.overall;
  const lines = [
    { line: 'bias', value: bias.estimate, label: `bias ${bias.estimate.toFixed(2)}` },
    {
      line: 'upper limit',
      value: limitsOfAgreementUpper.estimate,
      label: `+1.96 SD ${limitsOfAgreementUpper.estimate.toFixed(2)}`,
    },
    {
      line: 'lower limit',
      value: limitsOfAgreementLower.estimate,
      label: `-1.96 SD ${limitsOfAgreementLower.estimate.toFixed(2)}`,
    },
  ].filter((line) => Number.isFinite(line.value));
  const xRange = paddedRange(values.map((value) => value.mean));
  return {
    width: PLOT_SIZE + 60,
    height: PLOT_SIZE - 40,
    layer: [
      {
        name: 'bland_altman_points',
        data: { values },
        mark: { type: 'point', filled: true, size: 40, opacity: 0.8, color: NEUTRAL },
        encoding: {
          x: {
            field: 'mean',
            type: 'quantitative',
            title: `Mean of estimate and measured (${DLCO_UNIT})`,
            scale: { domain: xRange, nice: false, zero: false },
          },
          y: {
            field: 'difference',
            type: 'quantitative',
            title: `Estimate minus measured (${DLCO_UNIT})`,
          },
          tooltip: [
            { field: 'id', title: 'Subject' },
            { field: 'difference', format: '.2f', title: 'Difference' },
          ],
        },
      },
      {
        name: 'bland_altman_lines',
        data: { values: lines },
        mark: { type: 'rule', strokeWidth: 1.5 },
        encoding: {
          y: { field: 'value', type: 'quantitative' },
          color: {
            field: 'line',
            type: 'nominal',
            // The lines carry text labels, so they need no legend.
            legend: null,
            scale: {
              domain: ['bias', 'upper limit', 'lower limit'],
              range: ['#d62728', '#555', '#555'],
            },
          },
          strokeDash: {
            field: 'line',
            type: 'nominal',
            legend: null,
            scale: {
              domain: ['bias', 'upper limit', 'lower limit'],
              range: [
                [1, 0],
                [5, 4],
                [5, 4],
              ],
            },
          },
        },
      },
      {
        data: { values: lines },
        mark: { type: 'text', align: 'right', dy: -6, fontSize: 11, x: PLOT_SIZE + 56 },
        encoding: {
          y: { field: 'value', type: 'quantitative' },
          text: { field: 'label' },
        },
      },
    ],
  } as TopLevelSpec;
}

/** Row of the forest plot: one level of one stratum. */
interface ForestRow {
  row: string;
  stratum: string;
  level: string;
  n: number;
  mae: number | null;
  lower: number | null;
  upper: number | null;
  size: string;
}

/** MAE per stratum level with its bootstrap interval; levels under the minimum size flagged. */
export function forestSpec(report: EvaluationReport): TopLevelSpec {
  const finite = (value: number) => (Number.isFinite(value) ? value : null);
  const small = `too small (n < ${report.minStratumSize})`;
  const rows: ForestRow[] = report.strata.flatMap((stratum) =>
    stratum.levels.map((level) => ({
      row: `${stratum.stratum}: ${level.level}`,
      stratum: stratum.stratum,
      level: level.level,
      n: level.n,
      mae: finite(level.mae.estimate),
      lower: finite(level.mae.lower),
      upper: finite(level.mae.upper),
      size: level.tooSmall ? small : 'readable',
    })),
  );
  const order = rows.map((row) => row.row);
  const y = { field: 'row', type: 'nominal', title: null, sort: order } as const;
  const sizeScale = { domain: ['readable', small], range: [NEUTRAL, '#e45756'] };
  return {
    width: PLOT_SIZE,
    height: Math.max(60, 18 * rows.length),
    layer: [
      {
        data: { values: [{ mae: report.overall.mae.estimate }] },
        mark: { type: 'rule', color: REFERENCE_LINE, strokeDash: [5, 4] },
        encoding: { x: { field: 'mae', type: 'quantitative' } },
      },
      {
        name: 'forest_intervals',
        data: { values: rows },
        mark: { type: 'rule', strokeWidth: 2 },
        encoding: {
          y,
          x: { field: 'lower', type: 'quantitative' },
          x2: { field: 'upper' },
          color: { field: 'size', type: 'nominal', title: 'Level size', scale: sizeScale },
        },
      },
      {
        name: 'forest_points',
        data: { values: rows },
        mark: { type: 'point', filled: true, size: 60 },
        encoding: {
          y,
          x: {
            field: 'mae',
            type: 'quantitative',
            title: `MAE (${DLCO_UNIT}) with 95 % bootstrap interval, dashed line: all subjects`,
            scale: { zero: true },
          },
          color: { field: 'size', type: 'nominal', title: 'Level size', scale: sizeScale },
          shape: {
            field: 'size',
            type: 'nominal',
            title: 'Level size',
            scale: { domain: sizeScale.domain, range: ['circle', 'triangle-up'] },
          },
          tooltip: [
            { field: 'row', title: 'Level' },
            { field: 'n', title: 'n' },
            { field: 'mae', format: '.2f', title: 'MAE' },
            { field: 'lower', format: '.2f', title: 'Lower' },
            { field: 'upper', format: '.2f', title: 'Upper' },
          ],
        },
      },
    ],
  } as TopLevelSpec;
}

/** Binned calibration: mean measured against mean estimate per bin, identity and fitted line. */
export function calibrationSpec(report: EvaluationReport): TopLevelSpec {
  const { bins, slope, intercept } = report.calibration;
  const range = paddedRange(
    bins.flatMap((bin) => [bin.meanEstimate, bin.meanMeasured, bin.minEstimate, bin.maxEstimate]),
  );
  const fitted = Number.isFinite(slope.estimate)
    ? range.map((x) => ({ meanEstimate: x, meanMeasured: intercept.estimate + slope.estimate * x }))
    : [];
  const axis = (title: string) => ({ title, scale: { domain: range, nice: false, zero: false } });
  return {
    width: PLOT_SIZE,
    height: PLOT_SIZE,
    layer: [
      identityLayer(range, 'meanEstimate', 'meanMeasured'),
      {
        data: { values: fitted },
        mark: { type: 'line', color: '#f58518', clip: true },
        encoding: {
          x: { field: 'meanEstimate', type: 'quantitative' },
          y: { field: 'meanMeasured', type: 'quantitative' },
        },
      },
      {
        name: 'calibration_bins',
        data: { values: bins },
        mark: { type: 'point', filled: true, size: 70, color: NEUTRAL },
        encoding: {
          x: {
            field: 'meanEstimate',
            type: 'quantitative',
            ...axis(`Mean estimate per bin (${DLCO_UNIT})`),
          },
          y: {
            field: 'meanMeasured',
            type: 'quantitative',
            ...axis(`Mean measured per bin (${DLCO_UNIT})`),
          },
          tooltip: [
            { field: 'bin', title: 'Bin' },
            { field: 'n', title: 'n' },
            { field: 'meanEstimate', format: '.2f', title: 'Mean estimate' },
            { field: 'meanMeasured', format: '.2f', title: 'Mean measured' },
          ],
        },
      },
    ],
  } as TopLevelSpec;
}

/** Compiles a Vega-Lite spec to Vega, so the page needs only the Vega runtime. */
export function compileChart(spec: TopLevelSpec): object {
  const { spec: compiled } = compile({
    ...spec,
    config: { font: 'system-ui, sans-serif', view: { stroke: '#ddd' } },
  } as TopLevelSpec);
  return compiled;
}

/** Compiled Vega specs of the report's plots, keyed by the id of the element that shows each. */
export function reportCharts(report: EvaluationReport): Record<string, object> {
  const charts: Record<string, object> = {
    'plot-scatter': compileChart(scatterSpec(report)),
    'plot-bland-altman': compileChart(blandAltmanSpec(report)),
    'plot-calibration': compileChart(calibrationSpec(report)),
  };
  if (report.strata.length > 0) charts['plot-forest'] = compileChart(forestSpec(report));
  if (report.faithfulness !== undefined && report.faithfulness.groups.length > 0) {
    charts['plot-faithfulness'] = compileChart(faithfulnessSpec(report.faithfulness));
  }
  return charts;
}
