/**
 * Which src/ folder may import which (static imports, dynamic import() and
 * type-only imports alike): the data path of the design, held by a test.
 *   commands → experiments → (backends, kernel, tools, targets) → lib → model
 *   parsers, model and analysis are pure (no I/O; analysis reads parsers' types and model)
 *   judges (claims and verdicts decided from observations) are pure and read model only
 *   programs (what to run: the bundled .bt templates filled) is pure but for its one template
 *   reader, programs/templates.ts; it reads lib, model and parsers only
 *   render reads model only; vm is below targets, and reads model for its records (KernelInfo, VmState).
 * KNOWN lists the leaks still open, each by file: a new leak fails, and so does
 * an entry here that is no longer needed (the list can only shrink). Empty: model holds the
 * records every layer shares (RawRun, Suite), and lib reads them there.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/sys.js';

const ALLOWED: Record<string, string[]> = {
  lib: ['lib', 'model'],
  parsers: ['parsers', 'model', 'lib'],
  model: ['model'],
  programs: ['programs', 'lib', 'model', 'parsers'],
  analysis: ['analysis', 'model', 'parsers'],
  judges: ['judges', 'model'],
  render: ['render', 'model'],
  kernel: ['kernel', 'parsers', 'model', 'lib', 'targets', 'programs'],
  tools: ['tools', 'parsers', 'model', 'lib', 'targets', 'kernel'],
  targets: ['targets', 'lib', 'vm'],
  vm: ['vm', 'lib', 'parsers', 'model'],
  backends: ['backends', 'kernel', 'lib', 'model', 'parsers', 'programs', 'tools', 'targets'],
  experiments: ['experiments', 'analysis', 'backends', 'judges', 'kernel', 'lib', 'model', 'parsers', 'programs', 'tools', 'targets'],
  commands: ['commands', 'experiments', 'analysis', 'backends', 'judges', 'kernel', 'lib', 'model', 'parsers', 'programs', 'render', 'tools', 'targets', 'vm'],
};
/** Open leaks (issue 14): file → folders it imports against the table. */
const KNOWN: Record<string, string[]> = {};

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

const SRC = join(ROOT, 'src');
const imports = (text: string) => [...text.matchAll(/(?:from\s+|import\s*\(\s*)'(\.\.?\/[^']+)'/g)].map((m) => m[1]!);

describe('layers', () => {
  const found: Record<string, Set<string>> = {};
  for (const f of files(SRC)) {
    const rel = relative(SRC, f);
    const folder = rel.includes('/') ? rel.split('/')[0]! : '(root)';
    if (folder === '(root)') continue; // main.ts, cli.ts, run.ts: the edge wires everything
    for (const i of imports(readFileSync(f, 'utf8'))) {
      const target = relative(SRC, join(f, '..', i));
      const to = target.split('/')[0]!;
      if (!(ALLOWED[folder] ?? []).includes(to)) (found[rel] ??= new Set()).add(to);
    }
  }
  it('every import follows the table, but for the known leaks', () => {
    const unexpected = Object.entries(found).flatMap(([f, tos]) => [...tos].filter((t) => !(KNOWN[f] ?? []).includes(t)).map((t) => `${f} → ${t}`));
    expect(unexpected).toEqual([]);
  });
  it('every known leak is still real (fixed ones leave the list)', () => {
    const stale = Object.entries(KNOWN).flatMap(([f, tos]) => tos.filter((t) => !found[f]?.has(t)).map((t) => `${f} → ${t}`));
    expect(stale).toEqual([]);
  });
  it('parsers, model, analysis and programs do no I/O (but programs/templates.ts, the one reader of bpf/)', () => {
    for (const f of files(SRC).filter((p) => /src\/(parsers|model|analysis|judges|programs)\//.test(p) && !p.endsWith('src/programs/templates.ts'))) {
      const text = readFileSync(f, 'utf8');
      const all = [...text.matchAll(/(?:from\s+|import\s*\(\s*)'([^']+)'/g)].map((m) => m[1]!);
      for (const i of all) expect(i, relative(SRC, f)).not.toMatch(/^node:|execa|zx/);
    }
  });
});
