import { PassThroughExit, UsageError } from '../lib/errors.js';
import { parseSshSpec } from '../targets/ssh-spec.js';
import { lintFails } from '../analysis/hooks-lint.js';
import type { HooksReport } from '../model/hooks.js';
import { checkLintQuery, parseBackend, parseFamilies } from '../experiments/hooks.js';
import { hooksFleet } from '../experiments/hooks-fleet.js';
import type { HooksOptions } from './hooks-options.js';

function intOption(name: string, v: string | undefined, def: number, min: number, max: number): number {
  if (v === undefined) return def;
  if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) throw new UsageError(`${name} must be an integer from ${min} to ${max}, not ${JSON.stringify(v.slice(0, 40))}`);
  return Number(v);
}

/**
 * Several targets (`--target` repeated, `--targets-file`): each listed and linted at once (at most
 * --parallel open, each within --deadline), then each listing against the baseline (the first
 * target that answered, or --baseline FILE). Exit 1 when any target failed, ran out of time, has a
 * warning or something not judged, or differs from the baseline: a fleet gate.
 */
export async function runHooksFleet(o: HooksOptions, specs: string[]): Promise<void> {
  if (o.diff) throw new UsageError('--diff compares two listings; with several targets each is compared with the baseline (--baseline FILE, or the first target)');
  if (o.allNetns) throw new UsageError('--all-netns with several targets: pick one namespace with --netns (the same on each)');
  if (o.family !== 'all') throw new UsageError('a fleet lints each target, which reads every family (it compares IPv4 with IPv6): leave --family out');
  if (process.env.NFSCOPE_RECORD) throw new UsageError('NFSCOPE_RECORD records one target\'s run: with several targets, record each alone');
  const seen = new Map<string, string>();
  for (const s of specs) {
    if (s === 'auto') throw new UsageError('--target auto picks one target for an experiment; in a fleet, name each target');
    if (s.startsWith('replay:')) throw new UsageError('--target replay: replays one recorded run; it cannot be one of several targets');
    // `qemu` is `qemu:` its --kernel: two entries for one VM would boot it twice, or share one left up.
    const key = s === 'qemu' ? `qemu:${o.kernel ?? ''}` : s.startsWith('ssh://') ? sshKey(s) : s;
    if (seen.has(key)) throw new UsageError(`--target ${s} is given twice${seen.get(key) !== s ? ` (as ${seen.get(key)} too)` : ''}: each target once`);
    seen.set(key, s);
  }
  const parallel = intOption('--parallel', o.parallel, 4, 1, 64);
  const deadlineS = intOption('--deadline', o.deadline, 180, 1, 3600);
  parseFamilies(o.family);
  parseBackend(o.backend);
  checkLintQuery(o);
  let saved: HooksReport | null = null;
  if (o.baseline !== undefined) {
    const { checkInput, readWhole } = await import('../lib/input-file.js');
    const { parseHooksListing } = await import('../parsers/hooks-listing.js');
    await checkInput(o.baseline);
    const reports = parseHooksListing(await readWhole(o.baseline, `hooks listing ${o.baseline}`), `hooks listing ${o.baseline}`);
    // The namespace this fleet lists, never another one the file happens to hold alone.
    const want = o.netns ?? '(current)';
    saved = reports.find((r) => r.netns === want) ?? null;
    if (!saved) throw new UsageError(`${o.baseline} has no listing of netns ${want} (it has ${reports.map((r) => r.netns).join(', ')})`);
  }
  const progress = (m: string) => process.stderr.write(`… ${m}\n`);
  progress(`${specs.length} targets, ${parallel} at a time, ${deadlineS} s each at most`);
  const report = await hooksFleet(specs, o, { parallel, deadlineS, progress }, o.baseline !== undefined && saved ? { source: o.baseline, listing: saved } : null);
  const { targets } = report;
  if (o.json) process.stdout.write(JSON.stringify(report, null, 2) + '\n');
  else process.stdout.write((await import('../render/hooks-fleet.js')).renderHooksFleet(report) + '\n');
  const attention = targets.some((t) => t.status !== 'ok' || (t.lint && (lintFails(t.lint.findings) || t.lint.notJudged.length > 0)) || (t.diff?.length ?? 0) > 0);
  if (attention) throw new PassThroughExit(1);
}

/** An ssh target as a duplicate check sees it: ssh://root@h and ssh://root@h:22 are one host. */
function sshKey(spec: string): string {
  const p = parseSshSpec(spec);
  return `ssh://${p.user ?? ''}@${p.host}:${p.port ?? 22}`;
}
