/**
 * The published contract of every `--json` report: schemas/<kind>.schema.json.
 * They are generated from the types (scripts/gen-schemas.mjs); this test fails
 * when a committed schema is not what the types give today, and shows that
 * the validation can fail: an undeclared field, a missing one, another
 * schemaVersion. Real outputs are validated where they are produced, in the
 * e2e tests (test/helpers/schema.ts).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/sys.js';
import { schemaErrors } from '../helpers/schema.js';

describe('report schemas', () => {
  it('each committed schema is what the types generate (else: node scripts/gen-schemas.mjs)', { timeout: 120_000 }, async () => {
    const { generate, KINDS } = await import('../../scripts/gen-schemas.mjs');
    const now = generate();
    for (const k of KINDS) {
      const committed = JSON.parse(readFileSync(join(ROOT, 'schemas', `${k.kind}.schema.json`), 'utf8'));
      expect(committed, `schemas/${k.kind}.schema.json is stale`).toEqual(now[k.kind]);
    }
  });

  // A hooks report around a real listing (the 6.18 host's, captured by scripts/capture/hook-server.mjs).
  const hooks = {
    schemaVersion: 1, kernel: '6.18.44-fc-v669', netns: 'current', backend: 'bpftrace', warnings: [] as string[],
    hooks: JSON.parse(readFileSync(join(ROOT, 'test/fixtures/hook-server/6.18.44-fc-v669/expected.json'), 'utf8')),
  };
  it('the validation can fail: undeclared field, missing field, another schemaVersion', () => {
    const base = schemaErrors('hooks', hooks);
    // The sample itself must pass, or the failures below prove nothing.
    expect(base).toEqual([]);
    expect(schemaErrors('hooks', { ...hooks, extra: 1 }).join('\n')).toMatch(/additional/);
    const { warnings: _w, ...missing } = hooks;
    expect(schemaErrors('hooks', missing).join('\n')).toMatch(/warnings/);
    expect(schemaErrors('hooks', { ...hooks, schemaVersion: 99 }).join('\n')).toMatch(/constant/);
    expect(schemaErrors('hooks', { ...hooks, hooks: [{ ...hooks.hooks[0], entries: [{ priority: 'x' }] }] }).length).toBeGreaterThan(0);
  });
});
