import { enabled } from '../parsers/kconfig.js';
import { compareVersions, findMount, parseVersion } from '../parsers/versions.js';
import type { RawRun, Target } from '../targets/target.js';
import { runResult } from '../lib/run-result.js';
import { allSettledOrThrow } from '../lib/settled.js';
import { readKconfig } from './kconfig.js';
import { cachedProbe } from '../lib/boot-cache.js';
import { bootKey, fileKey } from './boot-key.js';
import type { Capabilities, Capability, ToolInfo } from '../model/capabilities.js';
import { kernelRelease } from './release.js';

/**
 * Why a step that needs `c` cannot run, or null when the target has it. Absent and unknown are
 * two different reasons: a probe that failed must not read as "this kernel has none".
 */
export function capabilityGap(c: Capability): string | null {
  if (c.available === true) return null;
  if (c.available === null) return `${c.detail}: whether this target has ${c.id} could not be told`;
  return `${c.detail}: this kernel has no ${c.id}${c.fix ? `; ${c.fix}` : ''}`;
}

/** Every option this probe reads. */
const KCONFIG_USED = ['CONFIG_KPROBES', 'CONFIG_KPROBE_EVENTS', 'CONFIG_FUNCTION_GRAPH_TRACER', 'CONFIG_NF_CONNTRACK', 'CONFIG_NETFILTER_NETLINK_HOOK', 'CONFIG_DEBUG_INFO_BTF_MODULES'];

const BTF_VMLINUX = '/sys/kernel/btf/vmlinux';

const VM_HINT = "run it on a full-featured kernel: 'nfscope ... --target qemu' (micro-VM) or the Fedora Vagrant VM";

async function version(target: Target, argv: string[]): Promise<{ path: string | null; version: string | null }> {
  const path = await target.which(argv[0]!);
  if (!path) return { path: null, version: null };
  const r = await target.exec([path, ...argv.slice(1)], { timeoutMs: 10_000 });
  return { path, version: parseVersion(r.stdout + r.stderr) };
}

/** Every tool doctor reports; a session asks only those its capabilities read. */
export const ALL_TOOLS = ['bpftrace', 'trace-cmd', 'drgn', 'nft', 'conntrack', 'iptables', 'qemu-system-x86_64'];
/**
 * bpftrace (its path for fentry's --info) and nft (`nft list hooks` needs 1.0.0). The others' five
 * process starts were seconds of every command's start under qemu TCG (drgn --version 5.5 s,
 * qemu's 2.8 s, all at once in Debian 6.12's micro-VM).
 */
const SESSION_TOOLS = ['bpftrace', 'nft'];

/** Each tool's path and the version it prints (null: not installed, or it printed none). */
export function toolVersions(target: Target, names: readonly string[]): Promise<ToolInfo[]> {
  return Promise.all(names.map(async (name) => ({ name, ...(await version(target, [name, '--version'])) })));
}

/** The tools' versions in one line (a fixture's meta): `bpftrace v0.17.0 / nft v1.0.6`, `?` when unread. */
export async function toolLine(target: Target, names: readonly string[]): Promise<string> {
  return (await toolVersions(target, names)).map((x) => `${x.name} ${x.version ?? (x.path ? '?' : 'missing')}`).join(' / ');
}

/** The candidates distributions use for the kernel's DWARF (drgn needs it). */
export function debuginfoCandidates(release: string): string[] {
  return [
    `/usr/lib/debug/boot/vmlinux-${release}`, // Debian/Ubuntu -dbg/-dbgsym
    `/usr/lib/debug/lib/modules/${release}/vmlinux`, // Fedora kernel-debuginfo, Debian too
    `/lib/modules/${release}/build/vmlinux`,
    `/boot/vmlinux-${release}`,
  ];
}

export async function findDebuginfo(target: Target, release: string): Promise<string | null> {
  for (const p of debuginfoCandidates(release)) if (await target.exists(p)) return p;
  return null;
}

const bpftraceEnvs = new WeakMap<Target, Promise<string[]>>();

/** Capabilities.bpftraceEnv for a target, from its capability probe or a probe of its own. */
export function bpftraceEnvFor(target: Target): Promise<string[]> {
  let p = bpftraceEnvs.get(target);
  if (!p) {
    p = (async () => {
      const [path, btf] = await Promise.all([target.which('bpftrace'), target.exists(BTF_VMLINUX)]);
      if (!path || !btf) return [];
      // `bpftrace --info` is 55 ms of a 0.45 s hook listing (6.18): its answer is kept for this
      // boot, module placement and bpftrace binary (lib/boot-cache.ts).
      const valid = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => x === `BPFTRACE_BTF=${BTF_VMLINUX}`);
      return cachedProbe('bpftrace-env', await bootKey(target, () => [fileKey(path)]), valid, async () => {
        const release = await kernelRelease(target);
        const [info, kc] = await Promise.all([target.exec([path, '--info'], { timeoutMs: 30_000 }), readKconfig(target, release, ['CONFIG_DEBUG_INFO_BTF_MODULES'])]);
        // A timed-out --info falls back on the kernel config: not kept.
        return { value: needsBtfPath(btf, info, kc?.cfg ?? null) ? [`BPFTRACE_BTF=${BTF_VMLINUX}`] : [], keep: info.exitCode === 0 };
      });
    })();
    bpftraceEnvs.set(target, p);
  }
  return p;
}

/**
 * bpftrace needs BPFTRACE_BTF where it says `btf: no` although the kernel has
 * vmlinux BTF, or (when --info timed out: seconds under TCG while a guest
 * boots) where the kernel has no module BTF: there the variable is harmless
 * (vmlinux is all the BTF there is) and bpftrace 0.17 needs it (Debian 5.10).
 * Never where module BTF exists: BPFTRACE_BTF would hide it (struct nf_conn on 6.1).
 */
export function needsBtfPath(btf: boolean, info: { exitCode: number | null; stdout: string; stderr?: string } | null, cfg: Map<string, string> | null): boolean {
  if (!btf) return false;
  // bpftrace 0.17 prints --info on stderr (Debian 12's package); later ones on stdout: read both.
  const text = `${info?.stdout ?? ''}\n${info?.stderr ?? ''}`;
  if (info?.exitCode === 0 && /^\s*btf:/m.test(text)) return /^\s*btf:\s*no\b/m.test(text);
  return cfg !== null && cfg.get('CONFIG_DEBUG_INFO_BTF_MODULES') !== 'y';
}

/**
 * fentry from `bpftrace --info`'s "kfunc: yes|no" line, read on stdout and stderr (0.17 prints
 * --info on stderr, later ones on stdout). A run that failed, or that printed no kfunc line,
 * leaves it unknown with that reason: not "no". Pure.
 */
export function fentryFromInfo(path: string | null, info: RawRun | null): { available: boolean | null; detail: string } {
  if (!path || !info) return { available: false, detail: 'bpftrace missing' };
  const r = runResult(info);
  if (!r.ok) return { available: null, detail: `unknown: ${r.reason}` };
  const m = /^\s*kfunc:\s*(yes|no)\b/m.exec(`${info.stdout}\n${info.stderr}`);
  if (!m) return { available: null, detail: `unknown: \`${path} --info\` printed no kfunc line` };
  return { available: m[1] === 'yes', detail: `bpftrace --info: kfunc ${m[1]}` };
}

/** The argv that starts bpftrace at `path` with these environment assignments (`env` execs it). */
export function bpftraceCommand(path: string, env: string[]): string[] {
  return env.length ? ['env', ...env, path] : [path];
}

/** The argv that starts bpftrace (at `path`) on the target: with `env` when it needs BPFTRACE_BTF. */
export async function bpftraceArgv(target: Target, path: string): Promise<string[]> {
  return bpftraceCommand(path, await bpftraceEnvFor(target));
}

/**
 * Probes what the target kernel and its tools offer. Reads only: it mounts
 * nothing and attaches nothing, so it is safe anywhere. `tools: 'session'` asks only the tools
 * the capabilities need for their version (`tools` then lists those): an experiment's session.
 */
export async function probeCapabilities(target: Target, opts: { tools?: 'all' | 'session' } = {}): Promise<Capabilities> {
  const kernel = await kernelRelease(target);
  // All at once: each is a process start, and `bpftrace --info` (loads test programs) is the
  // slowest of them, seconds under qemu TCG (issue 14: the lab's session opens on this probe), so
  // it starts first, beside the reads of the kernel's files. Both groups are awaited to their end:
  // a probe that fails is the probe's failure, and none is left unawaited.
  const filesP = (async () => {
    const [uid, mounts, kc, btf, proc] = await Promise.all([
      target.exec(['id', '-u']),
      target.readFile('/proc/mounts'),
      readKconfig(target, kernel, KCONFIG_USED),
      target.exists(BTF_VMLINUX),
      target.listDir('/proc'),
    ]);
    const tracefs = findMount(mounts ?? '', 'tracefs');
    // A tracefs that could not be listed or read says nothing of kprobes or function_graph: unknown.
    const [tracefsFiles, tracersText] = tracefs
      ? await Promise.all([target.listDir(tracefs), target.readFile(`${tracefs}/available_tracers`)])
      : [[], ''];
    return { uid, kc, btf, proc, tracefs, tracefsFiles, tracersText };
  })();
  const toolsP = Promise.all([
    target.which('bpftrace').then((p) => (p ? target.exec([p, '--info'], { timeoutMs: 15_000 }) : null)),
    findDebuginfo(target, kernel),
    toolVersions(target, opts.tools === 'session' ? SESSION_TOOLS : ALL_TOOLS),
  ]);
  await allSettledOrThrow<unknown>([filesP, toolsP]);
  const { uid, kc, btf, proc, tracefs, tracefsFiles, tracersText } = await filesP;
  const [info, dbg, tools] = await toolsP;
  const cfg = kc?.cfg ?? null;
  const tracers = (tracersText ?? '').split(/\s+/);

  const bpftrace = tools.find((t) => t.name === 'bpftrace')!;
  const nft = tools.find((t) => t.name === 'nft')!;

  const bpftraceEnv = needsBtfPath(btf, info, cfg) ? [`BPFTRACE_BTF=${BTF_VMLINUX}`] : [];
  bpftraceEnvs.set(target, Promise.resolve(bpftraceEnv));

  const caps: Capability[] = [];
  const add = (c: Capability) => caps.push(c);
  const fromCfg = (opt: string) => {
    const e = enabled(cfg, opt);
    return e === null ? 'kernel config unreadable' : `${opt}=${cfg!.get(opt) ?? 'not set'}`;
  };

  add({
    id: 'btf', available: btf,
    detail: (btf ? BTF_VMLINUX : `no ${BTF_VMLINUX}`) + (bpftraceEnv.length
      ? ` (${info && runResult(info).ok ? 'bpftrace --info says btf: no' : 'bpftrace --info failed, and the kernel has no module BTF'}; nfscope runs it with ${bpftraceEnv.join(' ')})`
      : ''),
    disables: 'the bpftrace hook walk (nfscope hooks --backend bpftrace) and BTF-typed probes',
    fix: 'a kernel built with CONFIG_DEBUG_INFO_BTF=y (every current distribution kernel)',
  });
  add({
    id: 'tracefs', available: tracefs !== null, detail: tracefs ?? 'not mounted',
    disables: 'tracepoints, kprobes and function_graph until it is mounted',
    fix: 'mount -t tracefs nodev /sys/kernel/tracing (nfscope mounts it for a run and unmounts it after)',
  });

  // Kprobes: tracefs's kprobe_events is the ground truth; without tracefs, the config.
  const kprobes = tracefs ? (tracefsFiles === null ? null : tracefsFiles.includes('kprobe_events')) : enabled(cfg, 'CONFIG_KPROBE_EVENTS') === true;
  add({
    id: 'kprobes', available: kprobes,
    detail: tracefs
      ? tracefsFiles === null ? `unknown: ${tracefs} could not be listed; ${fromCfg('CONFIG_KPROBES')}` : `${tracefs}/kprobe_events ${kprobes ? 'present' : 'absent'}; ${fromCfg('CONFIG_KPROBES')}`
      : fromCfg('CONFIG_KPROBE_EVENTS'),
    disables: 'probes on conntrack callbacks (which callbacks saw the SYN) and on the unconfirmed entry\'s life (alloc, confirm, free)',
    fix: VM_HINT,
  });
  const fgraph = tracefs ? (tracersText === null ? null : tracers.includes('function_graph')) : enabled(cfg, 'CONFIG_FUNCTION_GRAPH_TRACER') === true;
  add({
    id: 'function_graph', available: fgraph,
    detail: tracefs
      ? tracersText === null ? `unknown: ${tracefs}/available_tracers could not be read` : `available_tracers: ${tracers.filter(Boolean).join(' ') || 'none'}`
      : fromCfg('CONFIG_FUNCTION_GRAPH_TRACER'),
    disables: 'call graphs of the conntrack callbacks (nfscope graph)',
    fix: VM_HINT,
  });

  const fentry = fentryFromInfo(bpftrace.path, info);
  add({
    id: 'fentry', ...fentry,
    disables: 'nothing nfscope needs (kprobes serve the same probe points)',
    fix: 'a kernel with CONFIG_DEBUG_INFO_BTF and BPF trampolines (x86_64 5.5+)',
  });

  const kcore = proc?.includes('kcore') ?? false;
  add({
    id: 'kcore', available: kcore, detail: kcore ? '/proc/kcore' : 'no /proc/kcore',
    disables: 'drgn on the live kernel (nfscope hooks --backend drgn)',
    fix: `a kernel with CONFIG_PROC_KCORE=y; ${VM_HINT}`,
  });
  const modules = proc?.includes('modules') ?? false;
  add({
    id: 'modules', available: modules, detail: modules ? '/proc/modules' : 'no /proc/modules (CONFIG_MODULES off)',
    disables: 'reproducing the priority trick by reloading nf_conntrack (the fresh-netns ordering still works)',
    fix: VM_HINT,
  });
  const conntrackBuilt = enabled(cfg, 'CONFIG_NF_CONNTRACK');
  add({
    id: 'conntrack', available: conntrackBuilt !== false,
    detail: conntrackBuilt === null ? 'kernel config unreadable' : `CONFIG_NF_CONNTRACK=${cfg!.get('CONFIG_NF_CONNTRACK') ?? 'not set'}`,
    disables: 'every conntrack observation', fix: 'a kernel with CONFIG_NF_CONNTRACK',
  });

  const nlHook = enabled(cfg, 'CONFIG_NETFILTER_NETLINK_HOOK');
  const nftOk = nft.version !== null && compareVersions(nft.version, '1.0.0') >= 0;
  add({
    id: 'nft-list-hooks', available: nlHook === true && nftOk,
    detail: `${fromCfg('CONFIG_NETFILTER_NETLINK_HOOK')}; nft ${nft.version ?? 'missing'}`,
    disables: 'nfscope hooks --backend nft',
    fix: 'nftables 1.0.0+ and a kernel 5.14+ with CONFIG_NETFILTER_NETLINK_HOOK (Fedora from 6.7; not Debian 6.1); the bpftrace backend needs neither',
  });

  add({
    id: 'debuginfo', available: dbg !== null, detail: dbg ?? `none of ${debuginfoCandidates(kernel).join(', ')}`,
    disables: 'drgn (it needs DWARF: MissingDebugInfoError without it)',
    fix: 'Debian: apt-get install linux-image-$(uname -r)-dbg; Fedora: dnf debuginfo-install kernel',
  });

  return {
    kernel,
    root: uid.stdout.trim() === '0',
    kconfigSource: kc?.source ?? null,
    tracefs,
    caps,
    tools,
    bpftraceEnv,
  };
}
