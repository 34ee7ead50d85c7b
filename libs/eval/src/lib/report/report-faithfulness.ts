import type { TopLevelSpec } from 'vega-lite';

import { FAITHFULNESS_METRICS, type FaithfulnessReport } from '../faithfulness.ts';
import { escapeHtml, formatInterval, formatNumber, htmlTable } from './html-format.ts';

/**
 * Mark name of the points in panel `panel` (0-based, in the order of the metrics) of the
 * faithfulness plot; see `CHART_MARKS`. Each panel needs its own layer name: vega-lite gives
 * layers of one name a single dataset, so every panel drew the last panel's points.
 */
export function faithfulnessPointsMark(panel: number): string {
  return `${faithfulnessPointsLayer(panel)}_marks`;
}

function faithfulnessPointsLayer(panel: number): string {
  return `faithfulness_points_${panel}`;
}

/** One metric of one method and phenotype, as plotted. */
interface FaithfulnessRow {
  metric: string;
  method: string;
  phenotype: string;
  estimate: number | null;
  lower: number | null;
  upper: number | null;
  n: number;
}

function faithfulnessRows(faithfulness: FaithfulnessReport): FaithfulnessRow[] {
  const finite = (value: number) => (Number.isFinite(value) ? value : null);
  return faithfulness.groups.flatMap((group) =>
    FAITHFULNESS_METRICS.flatMap((metric) => {
      const value = group.metrics[metric];
      if (value === undefined) return [];
      return [
        {
          metric: `${metric} (${value.statistic})`,
          method: group.method,
          phenotype: group.phenotype,
          estimate: finite(value.estimate),
          lower: finite(value.lower),
          upper: finite(value.upper),
          n: value.n,
        },
      ];
    }),
  );
}

/**
 * Faithfulness metrics per phenotype, one panel per metric, coloured by explanation method,
 * with the bootstrap interval of each group statistic.
 */
export function faithfulnessSpec(faithfulness: FaithfulnessReport): TopLevelSpec {
  const rows = faithfulnessRows(faithfulness);
  const y = { field: 'phenotype', type: 'nominal', title: null } as const;
  const color = { field: 'method', type: 'nominal', title: 'Method' } as const;
  const metrics = [...new Set(rows.map((row) => row.metric))];
  return {
    vconcat: metrics.map((metric, panel) => ({
      title: { text: metric, anchor: 'start', fontSize: 12 },
      width: 320,
      data: { values: rows.filter((row) => row.metric === metric) },
      layer: [
        {
          mark: { type: 'rule', strokeWidth: 2 },
          encoding: {
            y,
            yOffset: { field: 'method' },
            x: { field: 'lower', type: 'quantitative', title: null },
            x2: { field: 'upper' },
            color,
          },
        },
        {
          name: faithfulnessPointsLayer(panel),
          mark: { type: 'point', filled: true, size: 50 },
          encoding: {
            y,
            yOffset: { field: 'method' },
            x: { field: 'estimate', type: 'quantitative', title: null },
            color,
            tooltip: [
              { field: 'metric', title: 'Metric' },
              { field: 'method', title: 'Method' },
              { field: 'phenotype', title: 'Phenotype' },
              { field: 'estimate', format: '.3f', title: 'Estimate' },
              { field: 'lower', format: '.3f', title: 'Lower' },
              { field: 'upper', format: '.3f', title: 'Upper' },
              { field: 'n', title: 'n' },
            ],
          },
        },
      ],
    })),
  } as TopLevelSpec;
}

/** Table of every group statistic, with the subjects the faithfulness evaluation left out. */
export function faithfulnessTablesHtml(faithfulness: FaithfulnessReport): string {
  const metrics = FAITHFULNESS_METRICS.filter((metric) =>
    faithfulness.groups.some((group) => group.metrics[metric] !== undefined),
  );
  const rows = faithfulness.groups.map((group) => [
    group.method,
    group.phenotype,
    ...metrics.map((metric) => {
      const value = group.metrics[metric];
      if (value === undefined) return '';
      return `${formatInterval(value, (v) => formatNumber(v, 3))} (${value.statistic}, n ${value.n})`;
    }),
  ]);
  // Seven metric columns are wider than the page, so the table scrolls inside its own box.
  const headers = ['Method', 'Phenotype', ...metrics];
  const table = `<div class="table-scroll">${htmlTable(headers, rows)}</div>`;
  const { subjects } = faithfulness;
  const leftOut = [
    ['without result.json', subjects.missingResults],
    ['without truth volumes', subjects.missingTruth],
    ['without truth_path', subjects.withoutTruthPath],
  ] as const;
  const notes = leftOut
    .filter(([, ids]) => ids.length > 0)
    .map(([what, ids]) => `<p>Left out ${escapeHtml(what)}: ${escapeHtml(ids.join(', '))}</p>`)
    .join('\n');
  const excludes =
    faithfulness.overallExcludes.length === 0
      ? ''
      : ` The <code>all</code> rows leave out ${escapeHtml(faithfulness.overallExcludes.join(', '))}.`;
  return (
    `<p>${subjects.evaluated} subjects with result folders and ground-truth deficit maps. ` +
    `Intervals are 95 % bootstrap intervals of the group statistic.${excludes}</p>\n${table}\n${notes}`
  );
}
