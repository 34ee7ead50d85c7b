import {
  checkSubjectMetadata,
  isModelError,
  type SubjectFieldLabels,
  type SubjectMetadata,
} from '@dlco/model';

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

/** Form field names, so that range messages name the field the client sent. */
export const FORM_FIELD_LABELS: SubjectFieldLabels = {
  ageYears: 'age',
  sex: 'sex',
  heightCm: 'height',
  weightKg: 'weight',
  smoking: 'smoking',
  packYears: 'pack_years',
  hbGdl: 'hb',
  cohbPercent: 'cohb',
};

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
    return checkSubjectMetadata(subject, FORM_FIELD_LABELS);
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

/** A plain decimal: optional sign, digits, optional fraction. No exponent, radix prefix or spaces. */
const PLAIN_DECIMAL = /^[+-]?(\d+(\.\d*)?|\.\d+)$/;

function numberField(fields: Record<string, string>, name: keyof typeof METADATA_FIELDS) {
  if (optionalText(fields, name) === undefined) return undefined;
  // Number() would also take '0x3F', '1e2', '0b11' and padded forms, so the raw text is checked.
  const text = fields[name]!;
  if (!PLAIN_DECIMAL.test(text)) {
    const shown = text.length > 32 ? `${text.slice(0, 32)}...` : text;
    throw new HttpError(
      400,
      'METADATA_INVALID',
      `Invalid field ${name} ${JSON.stringify(shown)}: expected a plain decimal number such as ` +
        `63 or 1.5 (${METADATA_FIELDS[name]}), without spaces, exponent or hex prefix.`,
      { details: { field: name, received: shown } },
    );
  }
  return Number(text);
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
