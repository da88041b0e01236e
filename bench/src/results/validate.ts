// Validates a result document against result.schema.json (ajv). The schema stays a JSON file in
// src/ (the published contract); it is read from there at run time, as tsc does not copy it.
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';

export const SCHEMA_PATH = fileURLToPath(new URL('../../../src/results/result.schema.json', import.meta.url));

let validator: ValidateFunction | null = null;

function compile(): ValidateFunction {
  if (validator === null) {
    const schema = JSON.parse(fs.readFileSync(SCHEMA_PATH, 'utf8')) as object;
    // `format` keywords are annotations here (ajv-formats is not a dependency).
    const ajv = new Ajv({ allErrors: true, strict: false, validateFormats: false });
    validator = ajv.compile(schema);
  }
  return validator;
}

export function validateResult(doc: unknown): { ok: true } | { ok: false; errors: string[] } {
  const v = compile();
  if (v(doc)) return { ok: true };
  return { ok: false, errors: (v.errors ?? []).map((e: ErrorObject) => `${e.instancePath || '/'} ${e.message ?? 'is invalid'}`) };
}
