import { from } from 'arquero';

import { FAITHFULNESS_METRICS, type FaithfulnessReport } from './faithfulness.ts';

/** Files that the faithfulness evaluation adds to the output folder. */
export const FAITHFULNESS_FILES = {
  groups: 'faithfulness.csv',
  subjects: 'faithfulness-subjects.csv',
} as const;

/**
 * Builds faithfulness.csv (one row per method, phenotype and metric) and
 * faithfulness-subjects.csv (one row per subject and method), keyed by file name. Returns no
 * tables when the report has no faithfulness part. Undefined values are empty cells.
 */
export function faithfulnessTables(
  faithfulness: FaithfulnessReport | undefined,
): Record<string, string> {
  if (faithfulness === undefined) return {};
  const groups = faithfulness.groups.flatMap((group) =>
    FAITHFULNESS_METRICS.filter((metric) => group.metrics[metric] !== undefined).map((metric) => {
      const value = group.metrics[metric]!;
      return {
        method: group.method,
        phenotype: group.phenotype,
        metric,
        statistic: value.statistic,
        n: value.n,
        n_undefined: value.nUndefined,
        n_missing: value.nMissing,
        value: value.estimate,
        value_lower: value.lower,
        value_upper: value.upper,
      };
    }),
  );
  const subjects = faithfulness.perSubject.map((row) => ({
    id: row.id,
    phenotype: row.phenotype,
    method: row.method,
    patches: row.patches,
    zones: row.zones,
    truth_total_ml_min_mmhg: row.truthTotal,
    truth_coverage: row.truthCoverage,
    ...Object.fromEntries(FAITHFULNESS_METRICS.map((metric) => [metric, row[metric] ?? null])),
  }));
  return {
    [FAITHFULNESS_FILES.groups]: toCsv(groups),
    [FAITHFULNESS_FILES.subjects]: toCsv(subjects),
  };
}

function toCsv(rows: Record<string, unknown>[]): string {
  if (rows.length === 0) return '';
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
