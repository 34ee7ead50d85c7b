import { gliDlco, isReferenceInputError } from '@dlco/reference';
import { ModelError } from './errors.ts';
import type { ModelCard } from './model-card.ts';

export const SMOKING_STATUSES = ['never', 'former', 'current'] as const;
export type SmokingStatus = (typeof SMOKING_STATUSES)[number];

/** Subject data the model and the GLI reference use. Never contains identifiers. */
export interface SubjectMetadata {
  /** Age in years. */
  ageYears: number;
  sex: 'M' | 'F';
  /** Standing height in cm. */
  heightCm: number;
  /** Body weight in kg. */
  weightKg: number;
  /** Smoking status; missing when unknown. */
  smoking?: SmokingStatus;
  /** Cumulative smoking in pack-years; 0 is assumed for a never-smoker without a value. */
  packYears?: number;
  /** Haemoglobin in g/dL; missing when not measured. */
  hbGdl?: number;
  /** Carboxyhaemoglobin as a percentage of haemoglobin; missing when not measured. */
  cohbPercent?: number;
}

/** Plausible ranges (inclusive) that catch unit mistakes such as metres for height. */
const RANGES = {
  ageYears: { min: 1, max: 120, unit: 'years' },
  heightCm: { min: 50, max: 250, unit: 'cm' },
  weightKg: { min: 10, max: 400, unit: 'kg' },
  packYears: { min: 0, max: 300, unit: 'pack-years' },
  hbGdl: { min: 3, max: 25, unit: 'g/dL' },
  cohbPercent: { min: 0, max: 50, unit: '%' },
} as const;

type RangedField = keyof typeof RANGES;

/**
 * Name that messages use for each subject field: a CLI flag, a manifest column or a form field.
 * Messages never show the internal field names such as `ageYears`.
 */
export type SubjectFieldLabels = Record<keyof SubjectMetadata, string>;

/** Plain names, for callers without flags or columns. */
export const SUBJECT_FIELD_WORDS: SubjectFieldLabels = {
  ageYears: 'age',
  sex: 'sex',
  heightCm: 'height',
  weightKg: 'weight',
  smoking: 'smoking status',
  packYears: 'pack-years',
  hbGdl: 'haemoglobin',
  cohbPercent: 'carboxyhaemoglobin',
};

/** The `dlco predict` flags. */
export const SUBJECT_FIELD_FLAGS: SubjectFieldLabels = {
  ageYears: '--age',
  sex: '--sex',
  heightCm: '--height',
  weightKg: '--weight',
  smoking: '--smoking',
  packYears: '--pack-years',
  hbGdl: '--hb',
  cohbPercent: '--cohb',
};

/**
 * Common unit mistakes: a value outside its range that lands inside it after this conversion
 * gets a hint naming the likely unit. The value is never converted silently.
 */
const UNIT_MISTAKES: Partial<Record<RangedField, { unit: string; factor: number }[]>> = {
  heightCm: [
    { unit: 'metres', factor: 100 },
    { unit: 'mm', factor: 0.1 },
  ],
  weightKg: [{ unit: 'grams', factor: 0.001 }],
  ageYears: [{ unit: 'months', factor: 1 / 12 }],
  hbGdl: [{ unit: 'g/L', factor: 0.1 }],
};

/**
 * Checks subject metadata and returns it with a never-smoker's missing pack-years set to 0.
 *
 * @param labels - names of the fields in messages, e.g. {@link SUBJECT_FIELD_FLAGS}
 * @throws ModelError `METADATA_INVALID` naming the field by its label, the value and the valid
 *   range, with a unit hint when the value looks like metres, mm, grams, months or g/L.
 */
export function checkSubjectMetadata(
  subject: SubjectMetadata,
  labels: SubjectFieldLabels = SUBJECT_FIELD_WORDS,
): SubjectMetadata {
  for (const field of ['ageYears', 'heightCm', 'weightKg'] as const) {
    requireInRange(field, subject[field], labels);
  }
  if (subject.sex !== 'M' && subject.sex !== 'F') {
    const message = `${labels.sex} must be M or F, received ${shown(subject.sex)}`;
    throw metadataError('sex', subject.sex, message);
  }
  if (subject.smoking !== undefined && !SMOKING_STATUSES.includes(subject.smoking)) {
    throw metadataError(
      'smoking',
      subject.smoking,
      `${labels.smoking} must be one of ${SMOKING_STATUSES.join(', ')}, received ` +
        shown(subject.smoking),
    );
  }
  if (subject.packYears !== undefined) requireInRange('packYears', subject.packYears, labels);
  if (subject.hbGdl !== undefined) requireInRange('hbGdl', subject.hbGdl, labels);
  if (subject.cohbPercent !== undefined) {
    requireInRange('cohbPercent', subject.cohbPercent, labels);
  }
  if (subject.smoking === 'never' && (subject.packYears ?? 0) > 0) {
    throw metadataError(
      'packYears',
      subject.packYears,
      `a never-smoker cannot have ${subject.packYears} pack-years; correct ${labels.smoking} ` +
        `or ${labels.packYears}`,
    );
  }
  const packYears = subject.smoking === 'never' ? (subject.packYears ?? 0) : subject.packYears;
  return { ...subject, packYears };
}

/**
 * Builds the raw metadata vector of the aggregator's `metadata` input, in the order of the
 * card's `normalisation.metadata`. Values stay raw and missing ones are NaN, because the
 * aggregator graph standardises them with the training mean and standard deviation and replaces
 * NaN with the mean itself. A feature this runtime does not know is passed as missing too, and
 * `unknownMetadataFeatures` lists it for a warning.
 *
 * @throws ModelError `METADATA_INVALID` for invalid subject data.
 */
export function metadataVector(card: ModelCard, subject: SubjectMetadata): Float32Array {
  const features = metadataFeatureValues(checkSubjectMetadata(subject));
  return Float32Array.from(card.normalisation.metadata, ({ name }) => features[name] ?? Number.NaN);
}

/** Lists the card's metadata features that this runtime cannot fill and passes as missing. */
export function unknownMetadataFeatures(card: ModelCard): string[] {
  const known = Object.keys(
    metadataFeatureValues({ ageYears: 1, sex: 'F', heightCm: 1, weightKg: 1 }),
  );
  return card.normalisation.metadata
    .map(({ name }) => name)
    .filter((name) => !known.includes(name));
}

/**
 * Returns every raw metadata feature `dlco_train` defines, by its name in the card and in
 * `baseline.json`, with NaN for a missing value.
 */
export function metadataFeatureValues(subject: SubjectMetadata): Record<string, number> {
  const heightM = subject.heightCm / 100;
  const smokingOneHot = (status: SmokingStatus) => {
    if (subject.smoking === undefined) return Number.NaN;
    return subject.smoking === status ? 1 : 0;
  };
  return {
    age: subject.ageYears,
    sex_male: subject.sex === 'M' ? 1 : 0,
    height_cm: subject.heightCm,
    weight_kg: subject.weightKg,
    bmi: subject.weightKg / (heightM * heightM),
    smoking_never: smokingOneHot('never'),
    smoking_former: smokingOneHot('former'),
    smoking_current: smokingOneHot('current'),
    pack_years: subject.packYears ?? Number.NaN,
    hb_g_dl: subject.hbGdl ?? Number.NaN,
    cohb_percent: subject.cohbPercent ?? Number.NaN,
    gli_dlco_predicted: gliPredictedOrNaN(subject),
  };
}

/**
 * Returns the GLI 2017 predicted DLCO at standard haemoglobin, as `dlco_train` computes the
 * feature. Outside the equations' age and height range it returns NaN, and the aggregator then
 * uses the training mean.
 */
function gliPredictedOrNaN(subject: SubjectMetadata): number {
  try {
    return gliDlco({ ageYears: subject.ageYears, sex: subject.sex, heightCm: subject.heightCm })
      .predicted;
  } catch (error) {
    if (isReferenceInputError(error)) return Number.NaN;
    throw error;
  }
}

function requireInRange(field: RangedField, value: unknown, labels: SubjectFieldLabels): void {
  const { min, max, unit } = RANGES[field];
  const label = labels[field];
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    const message = `${label} must be a number of ${unit}, received ${shown(value)}`;
    throw metadataError(field, value, message);
  }
  if (value < min || value > max) {
    throw metadataError(
      field,
      value,
      `${label} ${value} is outside ${min} to ${max} ${unit}; ${unitHint(field, value, label)}`,
    );
  }
}

/** Returns a hint such as `1.75 looks like metres, but --height is in cm: give 175`. */
function unitHint(field: RangedField, value: number, label: string): string {
  const { min, max, unit } = RANGES[field];
  for (const mistake of UNIT_MISTAKES[field] ?? []) {
    // Rounded to 2 decimals so that 1.75 m reads 175, not 175.00000000000003.
    const converted = Math.round(value * mistake.factor * 100) / 100;
    if (converted >= min && converted <= max) {
      return `${value} looks like ${mistake.unit}, but ${label} is in ${unit}: give ${converted}`;
    }
  }
  return `check that ${label} is in ${unit}`;
}

function shown(value: unknown): string {
  return JSON.stringify(value) ?? 'nothing';
}

function metadataError(field: string, value: unknown, message: string): ModelError {
  return new ModelError(
    'METADATA_INVALID',
    `${message}.`,
    {
      field,
      received: value,
    },
  );
}
