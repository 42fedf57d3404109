#!/usr/bin/env node
// gen-schemas.mjs - the JSON Schema of every `--json` report, generated from
// the TypeScript types that produce it (ts-json-schema-generator), into
// schemas/<kind>.schema.json. Objects are closed (additionalProperties:
// false): a field the code emits but the type does not declare fails
// validation. schemaVersion is pinned to the version the code writes.
// test/unit/schemas.test.ts fails when a committed schema differs from what
// this prints, and the e2e tests validate real outputs against them (ajv).
// Usage: node scripts/gen-schemas.mjs [--check]
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createGenerator } from 'ts-json-schema-generator';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** kind → where its type lives and which constant holds its version (read from the source). */
export const KINDS = [
  { kind: 'doctor', file: 'src/model/doctor.ts', type: 'DoctorReport', version: 'DOCTOR_SCHEMA_VERSION' },
  { kind: 'hooks', file: 'src/model/hooks.ts', type: 'HooksReport', version: 'HOOKS_SCHEMA_VERSION' },
  { kind: 'hooks-all', file: 'src/model/hooks.ts', type: 'HooksAllReport', version: 'HOOKS_SCHEMA_VERSION' },
  { kind: 'hooks-lint', file: 'src/model/hooks-lint.ts', type: 'HooksLintReport', version: 'HOOKS_LINT_SCHEMA_VERSION' },
  { kind: 'hooks-lint-all', file: 'src/model/hooks-lint.ts', type: 'HooksLintAllReport', version: 'HOOKS_LINT_SCHEMA_VERSION' },
  { kind: 'hooks-diff', file: 'src/model/hooks-lint.ts', type: 'HooksDiffReport', version: 'HOOKS_DIFF_SCHEMA_VERSION' },
  { kind: 'hooks-fleet', file: 'src/model/hooks-fleet.ts', type: 'HooksFleetReport', version: 'HOOKS_FLEET_SCHEMA_VERSION' },
  { kind: 'trace-syn', file: 'src/model/trace-syn.ts', type: 'TraceSynReport', version: 'TRACE_SYN_SCHEMA_VERSION' },
  { kind: 'graph', file: 'src/model/graph.ts', type: 'GraphReport', version: 'GRAPH_SCHEMA_VERSION' },
  { kind: 'lifetimes', file: 'src/model/lifetimes.ts', type: 'LifetimesReport', version: 'LIFETIMES_SCHEMA_VERSION' },
  { kind: 'lab', file: 'src/model/lab.ts', type: 'LabReport', version: 'LAB_SCHEMA_VERSION' },
  { kind: 'lab-scenario', file: 'src/model/scenario.ts', type: 'ScenarioReport', version: 'SCENARIO_SCHEMA_VERSION' },
  { kind: 'lab-scenarios', file: 'src/model/scenario.ts', type: 'ScenarioSetReport', version: 'SCENARIO_SCHEMA_VERSION' },
  { kind: 'cleanup', file: 'src/model/cleanup.ts', type: 'CleanupReport', version: 'CLEANUP_SCHEMA_VERSION' },
  { kind: 'vm-run', file: 'src/model/vm.ts', type: 'VmRunReport', version: 'VM_SCHEMA_VERSION' },
  { kind: 'vm-status', file: 'src/model/vm.ts', type: 'VmStatusReport', version: 'VM_SCHEMA_VERSION' },
  { kind: 'vm-kernels', file: 'src/model/kernels.ts', type: 'VmKernelsReport', version: 'VM_KERNELS_SCHEMA_VERSION' },
  { kind: 'follow-packet', file: 'src/model/follow.ts', type: 'FollowPacket', version: 'FOLLOW_SCHEMA_VERSION' },
  { kind: 'follow-summary', file: 'src/model/follow.ts', type: 'FollowSummary', version: 'FOLLOW_SCHEMA_VERSION' },
  { kind: 'follow-diff', file: 'src/model/follow-diff.ts', type: 'FollowDiffReport', version: 'FOLLOW_DIFF_SCHEMA_VERSION' },
  // nfscope parse KIND --json: one schema per kind.
  ...[['function-graph', 'ParseFunctionGraphReport'], ['kstack', 'ParseKstackReport'], ['bpftrace-json', 'ParseBpftraceJsonReport'],
    ['conntrack', 'ParseConntrackReport'], ['hooks', 'ParseHooksReport'], ['trace-prerouting', 'ParseTracePreroutingReport']]
    .map(([k, type]) => ({ kind: `parse-${k}`, file: 'src/model/parse-report.ts', type, version: 'PARSE_SCHEMA_VERSION' })),
];

function versionOf(file, constant) {
  const m = readFileSync(join(root, file), 'utf8').match(new RegExp(`export const ${constant} = (\\d+);`));
  if (!m) throw new Error(`${file}: no "export const ${constant} = N;"`);
  return Number(m[1]);
}

export function generate() {
  const out = {};
  for (const k of KINDS) {
    const gen = createGenerator({ path: join(root, k.file), tsconfig: join(root, 'tsconfig.json'), type: k.type, skipTypeCheck: true, additionalProperties: false, topRef: false, jsDoc: 'extended' });
    const schema = gen.createSchema(k.type);
    const v = versionOf(k.file, k.version);
    const top = schema.properties ? schema : null;
    // DoctorReport is an intersection: its properties sit under allOf or were merged; pin wherever schemaVersion is.
    const pin = (s) => {
      if (s?.properties?.schemaVersion) s.properties.schemaVersion = { type: 'number', const: v, description: `${k.kind} report format ${v}` };
    };
    pin(top);
    for (const d of Object.values(schema.definitions ?? {})) if (d === schema) pin(d);
    out[k.kind] = {
      $schema: 'http://json-schema.org/draft-07/schema#',
      $id: `urn:nfscope:report:${k.kind}:v${v}`,
      title: `nfscope ${k.kind.replace('-all', ' --all-netns').replace(/^hooks-(lint|diff)/, 'hooks --$1').replace(/^parse-/, 'parse ')} --json (schemaVersion ${v})`,
      ...Object.fromEntries(Object.entries(schema).filter(([key]) => key !== '$schema')),
    };
  }
  return out;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const all = generate();
  mkdirSync(join(root, 'schemas'), { recursive: true });
  for (const [kind, schema] of Object.entries(all)) {
    const file = join(root, 'schemas', `${kind}.schema.json`);
    writeFileSync(file, JSON.stringify(schema, null, 2) + '\n');
    console.log(`wrote ${file}`);
  }
}
