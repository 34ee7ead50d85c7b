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
  ageYears: { min: 1, max: 120, unit: 'years', flag: '--age' },
  heightCm: { min: 50, max: 250, unit: 'cm', flag: '--height' },
  weightKg: { min: 10, max: 400, unit: 'kg', flag: '--weight' },
  packYears: { min: 0, max: 300, unit: 'pack-years', flag: '--pack-years' },
  hbGdl: { min: 3, max: 25, unit: 'g/dL', flag: '--hb' },
  cohbPercent: { min: 0, max: 50, unit: '%', flag: '--cohb' },
} as const;

/**
 * Checks subject metadata and returns it with a never-smoker's missing pack-years set to 0.
 *
 * @throws ModelError `METADATA_INVALID` naming the field (and its CLI flag) and the valid range.
 */
export function checkSubjectMetadata(subject: SubjectMetadata): SubjectMetadata {
  for (const field of ['ageYears', 'heightCm', 'weightKg'] as const) {
    requireInRange(field, subject[field]);
  }
  if (subject.sex !== 'M' && subject.sex !== 'F') {
    throw metadataError('sex', subject.sex, "sex must be 'M' or 'F' (--sex M|F)");
  }
  if (subject.smoking !== undefined && !SMOKING_STATUSES.includes(subject.smoking)) {
    throw metadataError(
      'smoking',
      subject.smoking,
      `smoking must be one of ${SMOKING_STATUSES.join(', ')} (--smoking)`,
    );
  }
  if (subject.packYears !== undefined) requireInRange('packYears', subject.packYears);
  if (subject.hbGdl !== undefined) requireInRange('hbGdl', subject.hbGdl);
  if (subject.cohbPercent !== undefined) requireInRange('cohbPercent', subject.cohbPercent);
  if (subject.smoking === 'never' && (subject.packYears ?? 0) > 0) {
    throw metadataError(
      'packYears',
      subject.packYears,
      `a never-smoker cannot have ${subject.packYears} pack-years; correct --smoking or --pack-years`,
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
  };
}

function requireInRange(field: keyof typeof RANGES, value: unknown): void {
  const { min, max, unit, flag } = RANGES[field];
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw metadataError(field, value, `${field} must be a number of ${unit} (${flag})`);
  }
  if (value < min || value > max) {
    throw metadataError(
      field,
      value,
      `${field} ${value} ${unit} is outside ${min} to ${max} ${unit}; check the unit of ${flag}`,
    );
  }
}

function metadataError(field: string, value: unknown, message: string): ModelError {
  return new ModelError(
    'METADATA_INVALID',
    `${message}, received ${JSON.stringify(value) ?? 'nothing'}.`,
    {
      field,
      received: value,
    },
  );
}
