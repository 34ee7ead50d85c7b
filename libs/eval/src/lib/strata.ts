import { EvalInputError } from './errors.ts';
import { parseSex } from './impairment.ts';
import type { LabelRecord } from './read-labels.ts';

/** Level given to subjects whose stratum value is empty or cannot be computed. */
export const MISSING_LEVEL = 'missing';

/** A way to split subjects into groups by their manifest metadata. */
export interface StratumDefinition {
  /** Name in reports, e.g. `age_band`. */
  readonly name: string;
  /** Manifest columns the level is computed from; the stratum is skipped without them. */
  readonly columns: readonly string[];
  /** Returns the subject's level, or {@link MISSING_LEVEL}. */
  readonly levelOf: (metadata: Readonly<Record<string, string>>) => string;
  /** Levels in their natural order (bands from low to high); absent for raw column values. */
  readonly levelOrder?: readonly string[];
}

const NATURAL_ORDER = new Intl.Collator('en', { numeric: true });

/**
 * Sorts the levels of `stratum` for tables and plots: by `levelOrder` when the stratum has one,
 * otherwise in natural order, so `site2` comes before `site10`. {@link MISSING_LEVEL} goes last.
 */
export function sortLevels(stratum: StratumDefinition, levels: Iterable<string>): string[] {
  const rank = (level: string) => {
    if (level === MISSING_LEVEL) return Infinity;
    const index = stratum.levelOrder?.indexOf(level) ?? -1;
    return index === -1 ? (stratum.levelOrder?.length ?? 0) : index;
  };
  return [...levels].sort((a, b) => rank(a) - rank(b) || NATURAL_ORDER.compare(a, b));
}

/** Builds a stratum of numeric bands, given as [exclusive upper bound, label] from low to high. */
function bandStratum(
  name: string,
  columns: readonly string[],
  value: (metadata: Readonly<Record<string, string>>) => number,
  bands: readonly (readonly [number, string])[],
): StratumDefinition {
  return {
    name,
    columns,
    levelOf: (metadata) => band(value(metadata), bands),
    levelOrder: bands.map(([, label]) => label),
  };
}

function numberOrNaN(text: string | undefined): number {
  return text === undefined || text.trim() === '' ? NaN : Number(text);
}

/** Returns the label of the first band whose upper bound exceeds `value`. */
function band(value: number, bands: readonly (readonly [number, string])[]): string {
  if (!Number.isFinite(value)) return MISSING_LEVEL;
  for (const [upper, label] of bands) if (value < upper) return label;
  return MISSING_LEVEL;
}

function rawLevel(column: string) {
  return (metadata: Readonly<Record<string, string>>) => {
    const value = (metadata[column] ?? '').trim();
    return value === '' ? MISSING_LEVEL : value;
  };
}

/** Strata computed from standard manifest columns when those columns are present. */
export const BUILT_IN_STRATA: readonly StratumDefinition[] = [
  {
    name: 'sex',
    columns: ['sex'],
    levelOf: (metadata) => parseSex(metadata.sex ?? '') ?? MISSING_LEVEL,
  },
  bandStratum('age_band', ['age'], (metadata) => numberOrNaN(metadata.age), [
    [40, '<40 y'],
    [60, '40-59 y'],
    [75, '60-74 y'],
    [Infinity, '>=75 y'],
  ]),
  // WHO adult BMI classes in kg/m².
  bandStratum(
    'bmi_class',
    ['weight_kg', 'height_cm'],
    (metadata) => {
      const heightM = numberOrNaN(metadata.height_cm) / 100;
      return numberOrNaN(metadata.weight_kg) / (heightM * heightM);
    },
    [
      [18.5, 'underweight <18.5'],
      [25, 'normal 18.5-25'],
      [30, 'overweight 25-30'],
      [Infinity, 'obese >=30'],
    ],
  ),
  { name: 'smoking', columns: ['smoking'], levelOf: rawLevel('smoking') },
  { name: 'phenotype', columns: ['phenotype'], levelOf: rawLevel('phenotype') },
  { name: 'scanner_profile', columns: ['scanner_profile'], levelOf: rawLevel('scanner_profile') },
  bandStratum(
    'slice_thickness_band',
    ['slice_thickness_mm'],
    (metadata) => numberOrNaN(metadata.slice_thickness_mm),
    [
      [1.25, '<1.25 mm'],
      [2.5, '1.25-2.5 mm'],
      [Infinity, '>=2.5 mm'],
    ],
  ),
];

/**
 * Selects the built-in strata whose columns the manifest has, plus one stratum per column in
 * `extraColumns` that groups subjects by the column's raw value.
 *
 * @param labelsPath - manifest path, for the error message
 * @throws EvalInputError `EVAL_COLUMN_MISSING` when an extra column is not in the manifest.
 */
export function selectStrata(
  metadataColumns: readonly string[],
  extraColumns: readonly string[],
  labelsPath: string,
): StratumDefinition[] {
  const selected = BUILT_IN_STRATA.filter((stratum) =>
    stratum.columns.every((column) => metadataColumns.includes(column)),
  );
  for (const column of extraColumns) {
    if (!metadataColumns.includes(column)) {
      throw new EvalInputError(
        'EVAL_COLUMN_MISSING',
        `strata column '${column}' is not in ${labelsPath}, whose metadata columns are ` +
          `${metadataColumns.join(', ') || '(none)'}. Pass one of those or add the column.`,
        { file: labelsPath, column },
      );
    }
    if (selected.some((stratum) => stratum.name === column)) continue;
    selected.push({ name: column, columns: [column], levelOf: rawLevel(column) });
  }
  return selected;
}

/** Returns each label's level of `stratum`, in the order of `labels`. */
export function levelsOf(stratum: StratumDefinition, labels: readonly LabelRecord[]): string[] {
  return labels.map((label) => stratum.levelOf(label.metadata));
}
