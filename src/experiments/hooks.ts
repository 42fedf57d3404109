import { UsageError } from '../lib/errors.js';
import { BACKENDS, FAMILIES, HOOKS_SCHEMA_VERSION, type Backend, type Family, type HooksReport } from '../model/hooks.js';
import { listNamedNetns, netnsLabel, resolveNetns, type NetnsRef } from '../tools/netns.js';
import type { Target } from '../targets/target.js';
import { pickBackend } from '../backends/hooks.js';
import { requireRoot } from '../tools/root.js';
import { inNetns } from '../tools/netns.js';
import { tryRun } from '../lib/run.js';
import { readLegacy, readNftRuleset } from '../tools/rulesets.js';
import { lintHooks } from '../analysis/hooks-lint.js';
import { LEGACY_CALLBACKS } from '../model/owners.js';
import { captureFixture } from '../lib/fixture-capture.js';
import { toolLine } from '../kernel/capabilities.js';
import { HOOKS_LINT_SCHEMA_VERSION, type HooksLintReport, type LegacyTable, type Ruleset } from '../model/hooks-lint.js';
import { kernelRelease } from '../kernel/release.js';
import { BtfFiles } from '../kernel/bpftrace-btf.js';
import { withCleanup } from '../lib/cleanup.js';
import { LocalTarget } from '../targets/local.js';

/** What `nfscope hooks` lists: in which netns, which families, through which backend (as typed). */
export interface HooksQuery {
  netns?: string;
  allNetns?: boolean;
  family: string;
  backend: string;
}

export function parseFamilies(v: string): Family[] {
  if (v === 'all') return [...FAMILIES];
  if (!(FAMILIES as readonly string[]).includes(v)) {
    throw new UsageError(`unknown --family '${v}': expected ${FAMILIES.join(', ')} or all`);
  }
  return [v as Family];
}

export function parseBackend(v: string): Backend | 'auto' {
  if (v === 'auto' || (BACKENDS as readonly string[]).includes(v)) return v as Backend | 'auto';
  throw new UsageError(`unknown --backend '${v}': expected auto, ${BACKENDS.join(', ')}`);
}

/** Builds the hooks report(s): the model both renderings share. */
export async function hooksReports(target: Target, o: HooksQuery): Promise<{ reports: HooksReport[]; skipped: string[]; namespaces: NetnsRef[] }> {
  const families = parseFamilies(o.family);
  const wanted = parseBackend(o.backend);
  if (o.netns !== undefined && o.allNetns) throw new UsageError('--netns and --all-netns exclude each other');
  await requireRoot(target);
  const namespaces: NetnsRef[] = o.allNetns
    ? [{ kind: 'current' }, ...(await listNamedNetns(target)).map((name): NetnsRef => ({ kind: 'named', name }))]
    : [await resolveNetns(target, o.netns)];
  const kernel = await kernelRelease(target);
  const { backend, skipped } = await pickBackend(target, kernel, wanted);
  const reports: HooksReport[] = [];
  const refs: NetnsRef[] = [];
  const list = async (btf?: BtfFiles) => {
    for (const ns of namespaces) {
      const r = await backend.list(target, ns, families, btf);
      reports.push({
        schemaVersion: HOOKS_SCHEMA_VERSION, kernel, netns: netnsLabel(ns), backend: backend.name, families,
        hooks: r.hooks, warnings: r.warnings,
      });
      refs.push(ns);
    }
  };
  // bpftrace's BTF subsets (kernel/bpftrace-btf.ts) on this machine only: kept for the boot in the
  // probe cache, or with the cache off in a directory of this run's, removed at its end. A listing of
  // another target (ssh, a VM, a fleet under its deadlines) changes nothing there: bpftrace reads
  // the kernel's own BTF, as it always did.
  if (target instanceof LocalTarget) await withCleanup((cleanup) => list(new BtfFiles(target, cleanup, null)), target);
  else await list();
  return { reports, skipped, namespaces: refs };
}


/**
 * The sysctls NFS006 weighs, read inside the namespace (/proc/sys/net is per namespace, so through
 * nsenter). One that cannot be read is null: then it exempts nothing, and the finding stands.
 */
async function lintSysctls(target: Target, ns: NetnsRef) {
  const read = async (path: string) => {
    const r = await tryRun(target, inNetns(ns, ['cat', path]), { timeoutMs: 10_000 });
    return r.ok ? r.stdout : null;
  };
  const [ipv4Forward, ipv6Forward, ipv6Disabled] = await Promise.all([
    read('/proc/sys/net/ipv4/ip_forward'), read('/proc/sys/net/ipv6/conf/all/forwarding'), read('/proc/sys/net/ipv6/conf/all/disable_ipv6'),
  ]);
  return { ipv4Forward, ipv6Forward, ipv6Disabled };
}

/** --lint's own options, checked before any target opens. */
export function checkLintQuery(o: HooksQuery): void {
  if (o.family !== 'all') throw new UsageError('--lint reads every family (it compares IPv4 with IPv6): leave --family out');
  parseBackend(o.backend);
  if (o.netns !== undefined && o.allNetns) throw new UsageError('--netns and --all-netns exclude each other');
}

/**
 * `nfscope hooks --lint`: each namespace's hook table (every family: a finding compares
 * them) read against its nf_tables and iptables-legacy rules; with the listings it judged
 * (`listings[i]` is `reports[i]`'s).
 */
export async function hooksLintReports(target: Target, o: HooksQuery): Promise<{ reports: HooksLintReport[]; skipped: string[]; listings: HooksReport[] }> {
  checkLintQuery(o);
  const { reports, skipped, namespaces } = await hooksReports(target, o);
  const out: HooksLintReport[] = [];
  for (const [i, report] of reports.entries()) {
    const ns = namespaces[i]!;
    const sources: string[] = [];
    // A list the backend could not read whole is not judged as if it were (bpftrace's loop bounds).
    const notJudged: string[] = report.hooks.filter((l) => l.truncated).map((l) =>
      `${l.family} ${l.hook}${l.device ? ` ${l.device}` : ''}: the listing holds ${l.truncated!.listed} of its ${l.truncated!.total} entries`);
    const nft = await readNftRuleset(target, ns);
    const nftInUse = report.hooks.some((l) => l.entries.some((e) => e.owner === 'nftables' || e.owner === 'nat'));
    let ruleset: Ruleset | null = null;
    if (nft.value) {
      sources.push(nft.argv.join(' '));
      ruleset = nft.value;
    } else if (nftInUse) notJudged.push(nft.why);
    // No nft, and no nf_tables entry on any hook: no nf_tables rule runs here, which the hook table itself shows.
    else ruleset = { chains: [], rules: [] };
    const raws: Record<string, string> = { 'hooks.json': JSON.stringify(report, null, 2) + '\n' };
    if (nft.value) raws['nft-ruleset.json'] = nft.raw;
    let legacy: LegacyTable[] | null = [];
    for (const tool of ['iptables-legacy', 'ip6tables-legacy'] as const) {
      // iptable_nat's entries run behind nf_nat's (5.12+): nested ones count.
      if (!report.hooks.some((l) => l.entries.some((e) => [e, ...(e.nested ?? [])].some((x) => LEGACY_CALLBACKS[tool].test(x.callback))))) continue;
      const r = await readLegacy(target, ns, tool);
      if (r.value) {
        sources.push(r.argv.join(' '));
        raws[`${tool}-save.txt`] = r.raw;
        legacy = legacy ? [...legacy, ...r.value] : null;
      } else {
        notJudged.push(r.why);
        legacy = null;
      }
    }
    // NFSCOPE_CAPTURE_DIR: the lint's inputs as read, for the fast tier's tests of parsers and analysis.
    await captureFixture('hooks-lint', report.kernel, 'lint', raws, {
      argv: sources.join(' ; '), setup: 'see NFSCOPE_CAPTURE_SETUP',
      tool: () => toolLine(target, ['nft', 'iptables-legacy', 'bpftrace']),
    });
    const netnsArg = ns.kind === 'current' ? '' : `--netns ${netnsLabel(ns)}`;
    const findings = lintHooks({ report, ruleset, legacy, netnsArg, sysctls: await lintSysctls(target, ns) });
    out.push({ schemaVersion: HOOKS_LINT_SCHEMA_VERSION, kernel: report.kernel, netns: report.netns, sources, findings, notJudged });
  }
  return { reports: out, skipped, listings: reports };
}
