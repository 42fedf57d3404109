import { bpftraceArgv } from '../kernel/capabilities.js';
import { bpfShapeFor } from '../kernel/bpf-shape.js';
import { CapabilityError, CommandFailedError } from '../lib/errors.js';
import type { Backend, Family, HookList } from '../model/hooks.js';
import { bpftraceError, lostEvents, parseBpftraceJson, printfLines } from '../parsers/bpftrace-json.js';
import { applySecondWalk, familyMask, parseBpftraceHooks, SECOND_WALKS } from '../parsers/bpftrace-hooks.js';
import { parseNftHooks } from '../parsers/nft-hooks.js';
import { drgnHooks } from '../parsers/drgn-hooks.js';
import { enabled } from '../parsers/kconfig.js';
import { readKconfig } from '../kernel/kconfig.js';
import { findDebuginfo } from '../kernel/capabilities.js';
import { inNetns, netnsInode, type NetnsRef } from '../tools/netns.js';
import { requireTool } from '../lib/packages.js';
import { runToRecord } from '../tools/tracer.js';
import { bpfProgsProgram, flowtableCodeMembers, flowtablesProgram, nfHooksPrograms, xtCodeMembers, xtNamesProgram } from '../programs/nf_hooks.js';
import { memberOffset, moduleLayouts } from '../kernel/module-btf.js';
import type { StructLayout } from '../parsers/struct-layout.js';
import { tracerArgv, withEnv, type BpfProgram } from '../programs/program.js';
import type { BtfFiles } from '../kernel/bpftrace-btf.js';
import { readTemplate } from '../programs/templates.js';
import type { Target } from '../targets/target.js';
import { captureFixture } from '../lib/fixture-capture.js';
import { runResult } from '../lib/run-result.js';
import { bpfRunner, chainProbe, flowtableHooks, xtWalkers } from '../kernel/nft-chains.js';
import { BPF_RUN_FN, runsChain, runsFlowtable, xtFamily } from '../model/hooks.js';
import { baseSymbol } from '../model/owners.js';
import { kernelRelease } from '../kernel/release.js';

export interface HooksResult {
  hooks: HookList[];
  warnings: string[];
  argv: string[];
}

export interface HooksBackend {
  name: Backend;
  /** null when the backend can run on this target, else why not. */
  unavailable(target: Target, kernel: string): Promise<string | null>;
  /** `btf`: where bpftrace's BTF subsets go (kernel/bpftrace-btf.ts); without it, bpftrace reads the kernel's. */
  list(target: Target, ns: NetnsRef, families: readonly Family[], btf?: BtfFiles): Promise<HooksResult>;
}

function only(hooks: HookList[], families: readonly Family[]): HookList[] {
  return hooks.filter((h) => families.includes(h.family));
}

/** bpf/nf_hooks.bt from a BEGIN probe: needs BTF and bpftrace, no kprobes. */
export const bpftraceBackend: HooksBackend = {
  name: 'bpftrace',
  async unavailable(target) {
    if (!(await target.which('bpftrace'))) return 'bpftrace is not installed (apt-get install bpftrace / dnf install bpftrace)';
    if (!(await target.exists('/sys/kernel/btf/vmlinux'))) return 'the kernel has no BTF (/sys/kernel/btf/vmlinux)';
    return null;
  },
  async list(target, ns, families, btf) {
    // Chains are named where the kernel allows it (BTF of struct nft_chain, callbacks in kallsyms):
    // the template is filled with addresses read from the target, then run with -e.
    // The probes are independent: run at once (one after the other they cost 0.25 s on 6.18,
    // a quarter of the listing).
    const releaseP = kernelRelease(target);
    const [bpftrace, probe0, template, release, shape] = await Promise.all([
      requireTool(target, 'bpftrace').then((path) => bpftraceArgv(target, path)),
      chainProbe(target),
      readTemplate('nf_hooks'),
      releaseP,
      releaseP.then((rel) => bpfShapeFor(target, null, rel)),
    ]);
    let probe = probe0;
    const shown = (argv: string[]) => argv.map((a) => (a.length > 200 ? '<bpf/nf_hooks.bt, filled>' : a));
    // The slot walk and the netdev walk compile side by side (programs/nf_hooks.ts). Each ends
    // with its "Z" record, where nfscope stops bpftrace (tools/tracer.ts). The family filter is a
    // positional parameter: nothing the user typed is pasted into the script.
    const runAll = async (p: typeof probe) => {
      const parts = nfHooksPrograms(template, { ...('symbols' in p ? { symbols: p.symbols, layouts: p.layouts } : { symbols: null }), mask: familyMask(families), shape });
      const argvs = await Promise.all(parts.map(async (part) => inNetns(ns, tracerArgv(withEnv(bpftrace, btf ? await btf.env(part.text) : []), part))));
      return { argvs, runs: await Promise.all(argvs.map((a) => runToRecord(target, a, 'Z', 120_000))) };
    };
    let { argvs, runs } = await runAll(probe);
    let bad = runs.findIndex((r) => !r.ended);
    if (bad >= 0 && 'symbols' in probe) {
      // The chain-naming code must never cost the listing itself: without it, once more.
      const r = runs[bad]!;
      probe = { why: `naming chains failed here (${bpftraceError(r.stderr) ?? `exit ${r.exitCode}`})` };
      ({ argvs, runs } = await runAll(probe));
      bad = runs.findIndex((r) => !r.ended);
    }
    if (bad >= 0) throw new CommandFailedError(shown(argvs[bad]!), runs[bad]!.exitCode, runs[bad]!.stderr);
    const stdout = runs.map((r) => r.stdout).join('');
    const argv = argvs.flatMap((a, i) => (i ? ['&', ...shown(a)] : shown(a)));
    const events = parseBpftraceJson(stdout);
    const parsed = parseBpftraceHooks(printfLines(events));
    const warnings = [...parsed.warnings];
    // A record bpftrace lost is an entry, a name or a device missing: said, never taken for "none".
    const lost = lostEvents(events);
    if (lost > 0) warnings.push(`bpftrace lost ${lost} event(s) of the listing: entries or names may be missing`);
    // x_tables entries (iptables-legacy and siblings, 5.16+) name their table in a second walk, run
    // only where there are some: the listing itself pays nothing for them elsewhere.
    if (parsed.hooks.some((h) => h.entries.some((e) => xtFamily(baseSymbol(e.callback)) !== undefined))) {
      warnings.push(...(await nameXtTables(target, ns, families, { bpftrace, template, shape, release, btf }, parsed.hooks)));
    }
    // BPF netfilter links (6.4+) name their program the same way, where there are some.
    if (parsed.hooks.some((h) => h.entries.some((e) => baseSymbol(e.callback) === BPF_RUN_FN))) {
      warnings.push(...(await nameBpfProgs(target, ns, families, { bpftrace, template, shape, release, btf }, parsed.hooks)));
    }
    // Flowtables on a device's ingress name their flowtable the same way, where there are some.
    if (parsed.hooks.some((h) => h.entries.some((e) => runsFlowtable(baseSymbol(e.callback))))) {
      warnings.push(...(await nameFlowtables(target, ns, { bpftrace, template, shape, release, btf }, parsed.hooks)));
    }
    // A netdev hook head the kernel does not have is read as no hooks (kernel/bpf-shape.ts): say so.
    if (families.includes('netdev')) warnings.push(...shape.notes.filter((n) => n.includes('struct net_device')));
    const unnamed = parsed.hooks.some((h) => h.entries.some((e) => runsChain(e.callback) && !e.chain));
    if (unnamed && 'why' in probe) warnings.push(`nf_tables chains not named: ${probe.why}`);
    if (process.env.NFSCOPE_CAPTURE_DIR) await captureFixture('bpftrace', release, 'hooks', { 'stdout.jsonl': stdout }, {
      argv: argv.join(' '),
      tool: await (async () => {
        const v = runResult(await target.exec([bpftrace.at(-1)!, '--version'], { timeoutMs: 20_000 }));
        return v.ok ? v.stdout.trim() : `unknown (${v.reason})`;
      })(), setup: 'see NFSCOPE_CAPTURE_SETUP',
    });
    return { hooks: only(parsed.hooks, families), warnings, argv };
  },
};

type WalkRun = { bpftrace: string[]; template: string; shape: Awaited<ReturnType<typeof bpfShapeFor>>; release: string; btf: BtfFiles | undefined };

/**
 * The x_tables table behind each ipt_do_table-style entry (programs/nf_hooks.ts xtNamesProgram),
 * given to `hooks`' entries; what could not be named, and why, as warnings: the listing stands
 * without the names, never with guessed ones.
 */
async function nameXtTables(target: Target, ns: NetnsRef, families: readonly Family[], run: WalkRun, hooks: HookList[]): Promise<string[]> {
  const mask = familyMask(families) & 7;
  if (mask === 0) return [];
  const not = (why: string) => [`x_tables tables not named: ${why}`];
  const found = await xtWalkers(target);
  if ('why' in found) return not(found.why);
  // As for nf_tables' chains: where x_tables is a module (Debian 6.1, 6.12) its struct is in the
  // module's own BTF, which bpftrace 0.17 does not consult from a BEGIN probe: read raw at its offsets.
  // Built in (the 6.18 host), the kernel's BTF has it, read typed as ever.
  let layouts: StructLayout[] = [];
  if (await target.exists('/sys/kernel/btf/x_tables')) {
    const l = await moduleLayouts(target, ['x_tables'], xtCodeMembers());
    if ('why' in l) return not(l.why);
    if (l.missing.length) return not(`struct ${l.missing.join(', struct ')} is in none of this kernel's BTF (vmlinux, x_tables)`);
    layouts = l.layouts;
  }
  return secondWalk(target, ns, run, hooks, 'xt', xtNamesProgram(run.template, { mask, shape: run.shape, walkers: found.walkers, layouts }), not);
}

/**
 * The BPF program behind each nf_hook_run_bpf entry (a BPF netfilter link, 6.4+;
 * programs/nf_hooks.ts bpfProgsProgram): its id and name, given to `hooks`' entries, as the
 * x_tables tables are.
 */
async function nameBpfProgs(target: Target, ns: NetnsRef, families: readonly Family[], run: WalkRun, hooks: HookList[]): Promise<string[]> {
  const mask = familyMask(families) & 3;
  if (mask === 0) return [];
  const not = (why: string) => [`BPF netfilter programs not named: ${why}`];
  const found = await bpfRunner(target);
  if ('why' in found) return not(found.why);
  return secondWalk(target, ns, run, hooks, 'bpf', bpfProgsProgram(run.template, { mask, shape: run.shape, runner: found.runner }), not);
}

/**
 * The flowtable behind each nf_flow_offload_*_hook entry of a device (programs/nf_hooks.ts
 * flowtablesProgram): its table and name, given to `hooks`' entries as the x_tables tables are.
 */
async function nameFlowtables(target: Target, ns: NetnsRef, run: WalkRun, hooks: HookList[]): Promise<string[]> {
  const not = (why: string) => [`flowtables not named: ${why}`];
  const found = await flowtableHooks(target);
  if ('why' in found) return not(found.why);
  // priv is &flowtable->data: the offset of `data` takes it back to the struct nft_flowtable.
  const data = await memberOffset(target, ['nf_tables'], 'nft_flowtable', 'data');
  if ('why' in data) return not(data.why);
  // Where nf_tables is a module (Debian's kernels) its structs are in its BTF only: read raw there.
  const l = await moduleLayouts(target, ['nf_tables'], flowtableCodeMembers());
  if ('why' in l) return not(l.why);
  if (l.missing.length) return not(`struct ${l.missing.join(', struct ')} is in none of this kernel's BTF (vmlinux, nf_tables)`);
  return secondWalk(target, ns, run, hooks, 'ft', flowtablesProgram(run.template, { shape: run.shape, hooks: found.hooks, dataOffset: data.offset, layouts: l.layouts }), not);
}

/** Runs a second walk and gives what it read to the listing's entries (applySecondWalk); its failures as warnings. */
async function secondWalk(
  target: Target, ns: NetnsRef, run: WalkRun, hooks: HookList[], kind: keyof typeof SECOND_WALKS, program: BpfProgram, not: (why: string) => string[],
): Promise<string[]> {
  const argv = inNetns(ns, tracerArgv(withEnv(run.bpftrace, run.btf ? await run.btf.env(program.text) : []), program));
  const r = await runToRecord(target, argv, 'Z', 120_000);
  if (!r.ended) {
    return not(`their walk failed here (${bpftraceError(r.stderr) ?? `exit ${r.exitCode ?? 'on a signal'}${r.timedOut ? ' (timed out)' : ''}`})`);
  }
  if (process.env.NFSCOPE_CAPTURE_DIR) await captureFixture(`bpftrace-${kind}`, run.release, 'hooks', { 'stdout.jsonl': r.stdout }, {
    argv: argv.map((a) => (a.length > 200 ? `<bpf/nf_hooks.bt, ${SECOND_WALKS[kind].walk}>` : a)).join(' '), tool: 'bpftrace (see the hooks fixture beside it)', setup: 'see NFSCOPE_CAPTURE_SETUP',
  });
  // The names are extra: a second walk that cannot be read leaves the listing as it was, and says why.
  try {
    const events = parseBpftraceJson(r.stdout);
    const second = parseBpftraceHooks(printfLines(events));
    const lost = lostEvents(events);
    const { what, walk } = SECOND_WALKS[kind];
    return [
      ...(lost > 0 ? [`${walk.replace('the ', '')}: bpftrace lost ${lost} event(s): ${what.replace('its ', 'a ')} may be left unnamed`] : []),
      ...second.warnings.filter((w) => w.includes(`: ${what} could not be read`)),
      ...applySecondWalk(kind, hooks, second.hooks),
    ];
  } catch (e) {
    return not(`their walk's output could not be read: ${(e as Error).message.split('\n')[0]}`);
  }
}

/** `nft list hooks`: nftables 1.0+, kernel 5.14+ with CONFIG_NETFILTER_NETLINK_HOOK. */
export const nftBackend: HooksBackend = {
  name: 'nft',
  async unavailable(target, kernel) {
    if (!(await target.which('nft'))) return 'nft is not installed (apt-get install nftables / dnf install nftables)';
    const kc = await readKconfig(target, kernel, ['CONFIG_NETFILTER_NETLINK_HOOK']);
    const e = enabled(kc?.cfg ?? null, 'CONFIG_NETFILTER_NETLINK_HOOK');
    if (e === false) return 'the kernel lacks CONFIG_NETFILTER_NETLINK_HOOK: `nft list hooks` prints nothing';
    if (e === null) return 'kernel config unreadable: cannot tell whether `nft list hooks` works (CONFIG_NETFILTER_NETLINK_HOOK)';
    return null;
  },
  async list(target, ns, families) {
    const nft = await requireTool(target, 'nft');
    const argv = inNetns(ns, [nft, 'list', 'hooks']);
    const r = await target.exec(argv, { timeoutMs: 30_000 });
    if (r.exitCode !== 0) throw new CommandFailedError(argv, r.exitCode, r.stderr);
    return { hooks: only(parseNftHooks(r.stdout), families), warnings: [], argv };
  },
};

/** payload/drgn/nf_hooks.py: needs /proc/kcore and the kernel's DWARF; any netns by inode. */
export const drgnBackend: HooksBackend = {
  name: 'drgn',
  async unavailable(target, kernel) {
    if (!(await target.which('drgn'))) return 'drgn is not installed (apt-get install python3-drgn / dnf install drgn)';
    if (!(await target.exists('/proc/kcore'))) return 'no /proc/kcore: drgn cannot read the live kernel';
    if (!(await findDebuginfo(target, kernel))) return 'no kernel debuginfo (vmlinux with DWARF) for drgn';
    return null;
  },
  async list(target, ns, families) {
    const drgn = await requireTool(target, 'drgn');
    const script = await target.bundled('payload/drgn/nf_hooks.py');
    const inode = ns.kind === 'current' ? 'self' : await netnsInode(target, ns);
    const argv = [drgn, '--quiet', script, inode, String(familyMask(families))];
    const r = await target.exec(argv, { timeoutMs: 120_000 });
    if (r.exitCode !== 0) throw new CommandFailedError(argv, r.exitCode, r.stderr);
    const { hooks, warnings } = drgnHooks(r.stdout);
    return { hooks: only(hooks, families), warnings, argv };
  },
};

export const BACKEND_ORDER: HooksBackend[] = [bpftraceBackend, drgnBackend, nftBackend];

/** `auto`: the first backend that can run, with the reasons the others were skipped. */
export async function pickBackend(
  target: Target, kernel: string, wanted: Backend | 'auto',
): Promise<{ backend: HooksBackend; skipped: string[] }> {
  const skipped: string[] = [];
  for (const b of BACKEND_ORDER) {
    if (wanted !== 'auto' && b.name !== wanted) continue;
    const why = await b.unavailable(target, kernel);
    if (why === null) return { backend: b, skipped };
    if (wanted !== 'auto') throw new CapabilityError(`backend ${b.name} cannot run here: ${why}`);
    skipped.push(`${b.name}: ${why}`);
  }
  throw new CapabilityError(`no hooks backend can run on this target:\n  ${skipped.join('\n  ')}`);
}

