import { resolveTarget } from './auto-target.js';
import { PassThroughExit, UsageError } from '../lib/errors.js';
import { HOOKS_DIFF_SCHEMA_VERSION, HOOKS_LINT_SCHEMA_VERSION, type HooksDiffReport, type HooksLintAllReport } from '../model/hooks-lint.js';
import { lintFails } from '../analysis/hooks-lint.js';
import { HOOKS_SCHEMA_VERSION, type HooksAllReport, type HooksReport } from '../model/hooks.js';
import { withTarget } from '../targets/index.js';
import { LocalTarget, spawnedArgvs } from '../targets/local.js';
import { keepPrestart, prestartKey } from '../lib/prestart-cache.js';
import type { Target } from '../targets/target.js';
import { checkLintQuery, hooksLintReports, hooksReports, parseBackend, parseFamilies } from '../experiments/hooks.js';
import type { HooksOptions } from './hooks-options.js';
import { resolveNetns, validNetnsName } from '../tools/netns.js';


type OneTarget = Omit<HooksOptions, 'target'> & { target?: string };

export async function runHooks(opts: HooksOptions): Promise<void> {
  const specs = [...(Array.isArray(opts.target) ? opts.target : opts.target ? [opts.target] : [])];
  if (opts.targetsFile !== undefined) specs.push(...(await targetsFile(opts.targetsFile)));
  if (specs.length > 1 || opts.targetsFile !== undefined) {
    if (!specs.length) throw new UsageError(`--targets-file ${opts.targetsFile}: no target in it`);
    return (await import('./hooks-fleet.js')).runHooksFleet(opts, specs);
  }
  for (const [flag, v] of [['--baseline', opts.baseline], ['--parallel', opts.parallel], ['--deadline', opts.deadline]] as const) {
    if (v !== undefined) throw new UsageError(`${flag} is for a fleet (several --target)${flag === '--baseline' ? '; for one listing against a saved one, use --diff FILE' : ''}`);
  }
  const o: OneTarget = { ...opts, target: specs[0] };
  if (o.lint && o.diff) throw new UsageError('--lint and --diff exclude each other');
  if (o.lint) return runLint(o);
  if (o.diff) return runDiff(o, o.diff);
  // Load the table renderer while bpftrace compiles: it is off the critical path then.
  const render = o.json ? null : import('../render/hooks-table.js');
  // Bad options fail before a VM boots.
  parseFamilies(o.family);
  parseBackend(o.backend);
  // Checked here, before any target opens (it booted a VM first: issue 14).
  if (o.netns !== undefined && o.allNetns) throw new UsageError('--netns and --all-netns exclude each other');
  const progress = (m: string) => process.stderr.write(`… ${m}\n`);
  const { reports, skipped } = await withTarget(await resolveTarget(o.target, progress), { kernel: o.kernel, progress }, async (t) => {
    const r = await hooksReports(t, o);
    await keepListing(t);
    return r;
  });
  if (o.json) {
    const out: HooksAllReport | HooksReport = o.allNetns ? { schemaVersion: HOOKS_SCHEMA_VERSION, reports } : reports[0]!;
    process.stdout.write(JSON.stringify(out, null, 2) + '\n');
    return;
  }
  for (const s of skipped) process.stderr.write(`backend skipped: ${s}\n`);
  const { renderHooksTable } = await render!;
  process.stdout.write(reports.map(renderHooksTable).join('\n\n') + '\n');
}

/** --lint: findings per namespace; exit 1 when a warning or something not judged is there (a gate). */
async function runLint(o: OneTarget): Promise<void> {
  checkLintQuery(o);
  const progress = (m: string) => process.stderr.write(`… ${m}\n`);
  const render = o.json ? null : import('../render/hooks-lint.js');
  const { reports, skipped } = await withTarget(await resolveTarget(o.target, progress), { kernel: o.kernel, progress }, async (t) => {
    const r = await hooksLintReports(t, o);
    await keepListing(t);
    return r;
  });
  if (o.json) {
    const out = o.allNetns ? ({ schemaVersion: HOOKS_LINT_SCHEMA_VERSION, reports } satisfies HooksLintAllReport) : reports[0]!;
    process.stdout.write(JSON.stringify(out, null, 2) + '\n');
  } else {
    for (const s of skipped) process.stderr.write(`backend skipped: ${s}\n`);
    const { renderHooksLint } = await render!;
    process.stdout.write(reports.map(renderHooksLint).join('\n\n') + '\n');
  }
  if (reports.some((r) => lintFails(r.findings) || r.notJudged.length > 0)) throw new PassThroughExit(1);
}

/**
 * After a listing that succeeded on this machine: its bpftrace argvs, for the next identical
 * command line to start before its modules load (src/prestart.ts). Nothing else is ever kept.
 */
async function keepListing(t: Target): Promise<void> {
  // keepPrestart keeps bpftrace argvs only (lib/prestart-cache.ts): anything else spawned keeps nothing.
  if (t instanceof LocalTarget) await keepPrestart(prestartKey(process.argv.slice(2)), spawnedArgvs());
}

/** A --diff operand: a saved `hooks --json` file, or `netns:NAME`, that namespace listed live. */
export type DiffOperand = { file: string } | { netns: string };

/** Reads the operands; a netns name is checked as --netns is (exit 2), before anything runs. */
export function diffOperands(args: string[]): DiffOperand[] {
  if (args.length < 1 || args.length > 2) throw new UsageError(`--diff takes one or two listings (a saved \`hooks --json\` file, or netns:NAME listed live), not ${args.length}`);
  const ops: DiffOperand[] = args.map((a) => {
    if (!a.startsWith('netns:')) return { file: a };
    const name = a.slice('netns:'.length);
    if (!validNetnsName(name)) throw new UsageError(`invalid --diff ${JSON.stringify(a.slice(0, 60))}: netns:NAME takes a name from 'ip netns list' (a file of that name: ./${a})`);
    return { netns: name };
  });
  if (ops.length === 1 && 'netns' in ops[0]!) throw new UsageError(`--diff ${args[0]} alone compares nothing: give a second listing (a file, or netns:NAME)`);
  return ops;
}

/** --diff A [B]: exit 1 when the listings differ (so a script can ask "did anything change?"). */
async function runDiff(o: OneTarget, args: string[]): Promise<void> {
  const ops = diffOperands(args);
  if (o.allNetns) throw new UsageError('--diff compares one namespace: pick it with --netns (or save --all-netns listings and give both)');
  parseFamilies(o.family);
  parseBackend(o.backend);
  const { checkInput, readWhole } = await import('../lib/input-file.js');
  const { parseHooksListing } = await import('../parsers/hooks-listing.js');
  const { compareListings } = await import('../analysis/hooks-diff.js');
  const files = ops.flatMap((x) => ('file' in x ? [x.file] : []));
  // --family and --backend say how this run lists: with two saved listings nothing is listed.
  if (files.length === 2 && (o.family !== 'all' || o.backend !== 'auto')) throw new UsageError('--family and --backend apply to this run\'s listing: with two files, leave them out');
  for (const f of files) await checkInput(f);
  const saved = new Map(await Promise.all(files.map(async (f) => [f, parseHooksListing(await readWhole(f, `hooks listing ${f}`), `hooks listing ${f}`)] as const)));
  const pick = (file: string, reports: HooksReport[]): HooksReport => {
    const want = o.netns ?? (reports.length === 1 ? reports[0]!.netns : '(current)');
    const r = reports.find((x) => x.netns === want);
    if (!r) throw new UsageError(`${file} has no listing of netns ${want} (it has ${reports.map((x) => x.netns).join(', ')})`);
    return r;
  };
  const progress = (m: string) => process.stderr.write(`… ${m}\n`);
  // The live ones, in one session on the target: each netns operand, or (one file given) the
  // namespace --netns names, listed as the saved one was where it says how.
  // The saved listing a live one is listed like (its families and backend, where it says them).
  const firstFile = ops.find((x): x is { file: string } => 'file' in x);
  const a0 = firstFile ? pick(firstFile.file, saved.get(firstFile.file)!) : null;
  const liveQueries: { netns: string | undefined }[] = ops.length === 1
    ? [{ netns: o.netns ?? (a0!.netns === '(current)' ? undefined : a0!.netns) }]
    : ops.flatMap((x) => ('netns' in x ? [{ netns: x.netns }] : []));
  const live = liveQueries.length === 0 ? [] : await withTarget(await resolveTarget(o.target, progress), { kernel: o.kernel, progress }, async (t) => {
    const out: HooksReport[] = [];
    // Every namespace known before the first is listed (exit 2 for one the target has not).
    for (const q of liveQueries) if (q.netns !== undefined) await resolveNetns(t, q.netns);
    for (const q of liveQueries) {
      const query = {
        ...o, netns: q.netns,
        family: o.family !== 'all' || !a0?.families || a0.families.length !== 1 ? o.family : a0.families[0]!,
        backend: o.backend !== 'auto' || !a0 ? o.backend : a0.backend,
      };
      out.push((await hooksReports(t, query)).reports[0]!);
    }
    return out;
  });
  // The live listings come back in the operands' order.
  let next = 0;
  const sides = ops.map((x) => ('file' in x ? { report: pick(x.file, saved.get(x.file)!), source: x.file } : { report: live[next++]!, source: `netns:${x.netns}` }));
  if (ops.length === 1) sides.push({ report: live[0]!, source: 'this run' });
  const [A, B] = sides as [{ report: HooksReport; source: string }, { report: HooksReport; source: string }];
  const a = A.report;
  const b = B.report;
  const bSource = B.source;
  const report: HooksDiffReport = {
    schemaVersion: HOOKS_DIFF_SCHEMA_VERSION,
    a: { source: A.source, kernel: a.kernel, netns: a.netns },
    b: { source: bSource, kernel: b.kernel, netns: b.netns },
    hooks: [],
    notes: [],
  };
  ({ hooks: report.hooks, notes: report.notes } = compareListings(a, b));
  if (o.json) process.stdout.write(JSON.stringify(report, null, 2) + '\n');
  else process.stdout.write((await import('../render/hooks-diff.js')).renderHooksDiff(report) + '\n');
  if (report.hooks.length > 0) throw new PassThroughExit(1);
}

/** --targets-file: one target a line, blank lines and # comments skipped, each checked as --target is. */
async function targetsFile(path: string): Promise<string[]> {
  const { checkInput, readWhole } = await import('../lib/input-file.js');
  const { checkTargetSpec } = await import('./common-options.js');
  await checkInput(path);
  const specs = (await readWhole(path, `targets file ${path}`)).split('\n').map((l) => l.replace(/#.*/, '').trim()).filter(Boolean);
  for (const s of specs) checkTargetSpec(s);
  return specs;
}
