/**
 * Validates a real `--json` output against its committed schema
 * (schemas/<kind>.schema.json, generated from the types by
 * scripts/gen-schemas.mjs) with ajv. Fails with ajv's errors.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv, type ValidateFunction } from 'ajv';
import { expect } from 'vitest';
import { ROOT } from './sys.js';

export type ReportKind = 'doctor' | 'hooks' | 'hooks-all' | 'hooks-lint' | 'hooks-lint-all' | 'hooks-diff' | 'trace-syn' | 'graph' | 'lifetimes' | 'lab' | 'cleanup' | 'vm-run' | 'vm-status' | 'vm-kernels'
  | 'parse-function-graph' | 'parse-kstack' | 'parse-bpftrace-json' | 'parse-conntrack' | 'parse-hooks' | 'parse-trace-prerouting'
  | 'follow-packet' | 'follow-summary';

const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true });
const compiled = new Map<ReportKind, ValidateFunction>();

export function schemaErrors(kind: ReportKind, value: unknown): string[] {
  let v = compiled.get(kind);
  if (!v) {
    v = ajv.compile(JSON.parse(readFileSync(join(ROOT, 'schemas', `${kind}.schema.json`), 'utf8')));
    compiled.set(kind, v);
  }
  return v(value) ? [] : (v.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message}${e.params ? ` ${JSON.stringify(e.params)}` : ''}`);
}

export function expectSchema(kind: ReportKind, value: unknown): void {
  expect(schemaErrors(kind, value), `${kind} --json against schemas/${kind}.schema.json`).toEqual([]);
}
