import { checkSubjectMetadata, isModelError, type SubjectMetadata } from '@dlco/model';

import { HttpError } from './errors.ts';

/** Form fields of the subject metadata, with the unit each takes. */
export const METADATA_FIELDS = {
  age: 'years',
  sex: 'M or F',
  height: 'cm',
  weight: 'kg',
  smoking: 'never, former or current',
  pack_years: 'pack-years',
  hb: 'g/dL',
  cohb: '% of haemoglobin',
} as const;

const REQUIRED = ['age', 'sex', 'height', 'weight'] as const;

/**
 * Reads and checks the subject metadata of an upload with the CLI's rules.
 *
 * @throws HttpError 400 `METADATA_INVALID` for a missing or non-numeric field, and 422
 *   `METADATA_INVALID` for a value outside its range; `details.field` names the form field.
 */
export function subjectFromFields(fields: Record<string, string>): SubjectMetadata {
  const missing = REQUIRED.filter((name) => (fields[name] ?? '').trim() === '');
  if (missing.length > 0) {
    throw new HttpError(
      400,
      'METADATA_INVALID',
      `Missing field ${missing.join(', ')}: a prediction needs age (years), sex (M or F), ` +
        'height (cm) and weight (kg).',
      { details: { field: missing[0], fields: missing } },
    );
  }
  const subject: SubjectMetadata = {
    ageYears: numberField(fields, 'age')!,
    sex: fields.sex.trim() as SubjectMetadata['sex'],
    heightCm: numberField(fields, 'height')!,
    weightKg: numberField(fields, 'weight')!,
    smoking: optionalText(fields, 'smoking') as SubjectMetadata['smoking'],
    packYears: numberField(fields, 'pack_years'),
    hbGdl: numberField(fields, 'hb'),
    cohbPercent: numberField(fields, 'cohb'),
  };
  try {
    return checkSubjectMetadata(subject);
  } catch (error) {
    if (!isModelError(error)) throw error;
    const field = formField(String(error.details.field));
    throw new HttpError(422, 'METADATA_INVALID', error.message, {
      details: { field, received: error.details.received },
    });
  }
}

/**
 * Checks the metadata fields received so far when all required ones are present, because the
 * others may still follow in the body.
 *
 * @throws HttpError as `subjectFromFields` does
 */
export function checkEarlyFields(fields: Record<string, string>): void {
  if (REQUIRED.every((name) => (fields[name] ?? '').trim() !== '')) subjectFromFields(fields);
}

function optionalText(fields: Record<string, string>, name: string): string | undefined {
  const text = fields[name]?.trim();
  return text === undefined || text === '' ? undefined : text;
}

function numberField(fields: Record<string, string>, name: keyof typeof METADATA_FIELDS) {
  const text = optionalText(fields, name);
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!Number.isFinite(value)) {
    throw new HttpError(
      400,
      'METADATA_INVALID',
      `Invalid field ${name} '${text.slice(0, 32)}': expected a number ` +
        `(${METADATA_FIELDS[name]}).`,
      { details: { field: name } },
    );
  }
  return value;
}

/** Maps a `SubjectMetadata` key from a model error back to its form field. */
function formField(key: string): string {
  const names: Record<string, string> = {
    ageYears: 'age',
    heightCm: 'height',
    weightKg: 'weight',
    packYears: 'pack_years',
    hbGdl: 'hb',
    cohbPercent: 'cohb',
  };
  return names[key] ?? key;
}
