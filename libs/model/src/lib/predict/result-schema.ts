import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';

/** Path of the JSON Schema (draft 2020-12) that every `result.json` follows. */
export const RESULT_SCHEMA_PATH = fileURLToPath(
  new URL('../../../schema/result.schema.json', import.meta.url),
);

let validator: ValidateFunction | undefined;

/** Returns the schema validation errors of a result, as `path: message` lines; empty when valid. */
export function resultSchemaErrors(result: unknown): string[] {
  validator ??= new Ajv2020({ allErrors: true, strict: true }).compile(
    JSON.parse(readFileSync(RESULT_SCHEMA_PATH, 'utf8')) as object,
  );
  // JSON.stringify turns NaN into null and drops undefined, as writing the file does.
  const roundTripped: unknown = JSON.parse(JSON.stringify(result));
  if (validator(roundTripped)) return [];
  return (validator.errors ?? []).map(
    (error) => `${error.instancePath || '/'}: ${error.message ?? 'invalid'}`,
  );
}
