import { ModelError } from './errors.ts';
import { metadataFeatureValues, type SubjectMetadata } from './metadata.ts';

/** Layouts of `baseline.json` this runtime scores. */
export const SUPPORTED_BASELINE_FORMAT_VERSIONS: readonly number[] = [1];

/** One term of the linear baseline. */
export interface BaselineFeature {
  name: string;
  unit: string;
  coefficient: number;
}

/**
 * The global-metric baseline of a model: ordinary least squares of DLCO on whole-lung QCT
 * values and demographics, fitted by `dlco_train.baseline` on the training split.
 */
export interface LinearBaseline {
  formatVersion: number;
  /** ml/min/mmHg. */
  intercept: number;
  features: BaselineFeature[];
  /** Residual standard deviation on the training split, in ml/min/mmHg. */
  residualSd: number | null;
  trainingN: number;
}

/** Whole-lung QCT values the baseline reads, measured by `computeQct`. */
export interface WholeLungQct {
  volumeMl: number;
  /** Mean lung density, in HU. */
  meanHu: number;
  /** Percentage of lung voxels below -950 HU. */
  laa950Percent: number;
  /** Percentage of lung voxels from -600 to -250 HU. */
  haaPercent: number;
}

/** A baseline estimate with the values it used. */
export interface BaselineEstimate {
  /** DLCO in ml/min/mmHg, or null when a feature value is missing. */
  estimateMlMinMmHg: number | null;
  residualSdMlMinMmHg: number | null;
  terms: { name: string; unit: string; value: number | null; coefficient: number }[];
  /** Features without a value, so no estimate could be made. */
  missing: string[];
}

/**
 * Checks a parsed `baseline.json`.
 *
 * @throws ModelError `MODEL_CARD_INVALID` for a missing field or an unknown format version.
 */
export function parseBaseline(value: unknown, source: string): LinearBaseline {
  const json = value as Partial<LinearBaseline> | null;
  const valid =
    typeof json === 'object' &&
    json !== null &&
    SUPPORTED_BASELINE_FORMAT_VERSIONS.includes(json.formatVersion as number) &&
    typeof json.intercept === 'number' &&
    Array.isArray(json.features) &&
    json.features.every((f) => typeof f?.name === 'string' && typeof f?.coefficient === 'number');
  if (!valid) {
    throw new ModelError(
      'MODEL_CARD_INVALID',
      `${source} is not a baseline of format version ${SUPPORTED_BASELINE_FORMAT_VERSIONS.join(', ')} ` +
        'with a numeric intercept and features with numeric coefficients. Export the model again.',
      { file: source },
    );
  }
  return {
    formatVersion: json.formatVersion as number,
    intercept: json.intercept as number,
    features: json.features!.map(({ name, unit, coefficient }) => ({
      name,
      unit: unit ?? '',
      coefficient,
    })),
    residualSd: typeof json.residualSd === 'number' ? json.residualSd : null,
    trainingN: typeof json.trainingN === 'number' ? json.trainingN : 0,
  };
}

/** Scores the baseline as `intercept + sum(coefficient * value)`. */
export function scoreBaseline(
  baseline: LinearBaseline,
  qct: WholeLungQct | undefined,
  subject: SubjectMetadata,
): BaselineEstimate {
  const values: Record<string, number> = {
    ...metadataFeatureValues(subject),
    laa950_percent: qct?.laa950Percent ?? Number.NaN,
    haa_percent: qct?.haaPercent ?? Number.NaN,
    lung_volume_ml: qct?.volumeMl ?? Number.NaN,
    mean_lung_density_hu: qct?.meanHu ?? Number.NaN,
  };
  let estimate = baseline.intercept;
  const missing: string[] = [];
  const terms = baseline.features.map(({ name, unit, coefficient }) => {
    const value = values[name];
    if (value === undefined || !Number.isFinite(value)) {
      missing.push(name);
      return { name, unit, value: null, coefficient };
    }
    estimate += coefficient * value;
    return { name, unit, value, coefficient };
  });
  return {
    estimateMlMinMmHg: missing.length === 0 ? estimate : null,
    residualSdMlMinMmHg: baseline.residualSd,
    terms,
    missing,
  };
}

/**
 * Finds the whole-lung row of a QCT summary: `computeQct`'s table (`rows` with region `whole`)
 * or the by-region object of `bag.json` (`whole`). Returns undefined when neither is present.
 */
export function wholeLungQct(qct: unknown): WholeLungQct | undefined {
  if (typeof qct !== 'object' || qct === null) return undefined;
  const table = qct as { rows?: unknown; whole?: unknown };
  const row = Array.isArray(table.rows)
    ? table.rows.find((candidate) => (candidate as { region?: unknown })?.region === 'whole')
    : table.whole;
  if (typeof row !== 'object' || row === null) return undefined;
  const read = (name: keyof WholeLungQct) => {
    const value = (row as Record<string, unknown>)[name];
    return typeof value === 'number' ? value : Number.NaN;
  };
  return {
    volumeMl: read('volumeMl'),
    meanHu: read('meanHu'),
    laa950Percent: read('laa950Percent'),
    haaPercent: read('haaPercent'),
  };
}
