/**
 * What nfscope's bundled bpftrace programs adapt to on a kernel, found from
 * what the kernel has, never from its version (issue 12):
 * - skb:kfree_skb's `reason` field (5.17+), read from the tracepoint's format
 *   file. Without it each `args->reason` becomes NO_REASON (model/trace-syn.ts),
 *   and the drop is attributed through its stack and the hook listing instead.
 * - struct nf_conn in BTF: vmlinux BTF when conntrack is built in, module BTF
 *   (CONFIG_DEBUG_INFO_BTF_MODULES, 5.11+) when it is a module. Without either
 *   (Debian's 5.10), each `((struct nf_conn *)X)->member` in a program is
 *   rewritten into a read at the member's offset, taken from the kernel's debug
 *   info by payload/drgn/ct_types.py (the -dbg package, cached).
 * - struct net: read at the offsets of the kernel's own BTF (parsers/btf.ts),
 *   never as bpftrace 0.17 lays it out (wrong on Debian 7.2).
 * - struct net_device's netdev hook heads (nf_hooks_ingress with
 *   CONFIG_NETFILTER_INGRESS, nf_hooks_egress from 5.16 with
 *   CONFIG_NETFILTER_EGRESS), from BTF: a head the kernel lacks is read as 0
 *   (no hooks there), else bpftrace refuses the whole listing (Debian 5.10).
 */
import { runResult } from '../lib/run-result.js';
import { cachedProbe } from '../lib/boot-cache.js';
import { bootKey, fileKey } from './boot-key.js';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../lib/paths.js';
import { readKconfig } from './kconfig.js';
import { NF_CONN_BTF_OPTIONS, nfConnInNoBtf } from '../parsers/kconfig.js';
import { parseStructLayouts, type StructLayout } from '../parsers/struct-layout.js';
import type { Btf } from '../parsers/btf.js';
import { kernelBtf } from './module-btf.js';
import type { Target } from '../targets/target.js';
import { ctMembers, rawRead, structMembers, structsRead, type BpfShape } from '../programs/adapt.js';
import { BUNDLED_PROGRAMS, readTemplate, templatePath } from '../programs/templates.js';

export type { BpfShape };

/** Where the kernel's debug info keeps nf_conntrack's DWARF (Debian -dbg; Fedora debuginfo). */
export function conntrackDebugCandidates(release: string): string[] {
  const dir = `/usr/lib/debug/lib/modules/${release}/kernel/net/netfilter`;
  return [`${dir}/nf_conntrack.ko`, `${dir}/nf_conntrack.ko.debug`, `${dir}/nf_conntrack.ko.xz`];
}

/** The python3 that has drgn: the interpreter of drgn's #! line. */
async function drgnPython(target: Target): Promise<string | null> {
  const drgn = await target.which('drgn');
  if (!drgn) return null;
  const head = (await target.readFile(drgn))?.split('\n')[0] ?? '';
  const m = /^#!\s*(\/\S+)(?:\s+(\S+))?/.exec(head);
  if (!m) return null;
  return m[1]!.endsWith('/env') ? (m[2] ? await target.which(m[2]) : null) : m[1]!;
}

/** Probes the shape; the members to look up come from the bundled programs themselves. */
export async function probeBpfShape(target: Target, tracefs: string | null, release: string): Promise<BpfShape> {
  const notes: string[] = [];
  const format = tracefs ? await target.readFile(`${tracefs}/events/skb/kfree_skb/format`) : '';
  // Unreadable: the programs do without the field, and the note says why (not "before 5.17").
  const kfreeSkbReason = !tracefs || (format !== null && /\bfield:[^;]*\breason;/.test(format));
  if (format === null) notes.push(`${tracefs}/events/skb/kfree_skb/format could not be read: drops are attributed by their stack and the hook listing, without the kernel's reason`);
  else if (!kfreeSkbReason) notes.push('skb:kfree_skb has no reason field here (it came in 5.17): drops are attributed by their stack and the hook listing');
  // Every bundled program's struct reads are laid out, so a fill of any of them finds its members.
  const programs = await Promise.all(BUNDLED_PROGRAMS.map(readTemplate));
  const btfP = kernelBtf(target);
  const [nfConn, net, netdev, structs] = await Promise.all([nfConnSource(target, release, programs, notes), btfP.then((b) => netSource(b, programs, notes)), btfP.then((b) => netdevSource(b, notes)), btfP.then((b) => structsSource(b, programs, notes))]);
  return { kfreeSkbReason, nfConn, net, netdev, structs, notes };
}

/**
 * struct net is read at the offsets of the kernel's own BTF, wherever nfscope
 * can read that BTF. bpftrace 0.17 lays BTF types out through C and clang, and
 * on Debian's 7.2 got struct net wrong (4848 bytes where the BTF says 4992:
 * every hook slot read 0, and the hook listing came out empty); the BTF's
 * offsets are the kernel's, on every kernel.
 */
async function netSource(btf: Btf | Error | null, programs: string[], notes: string[]): Promise<BpfShape['net']> {
  if (!btf) return { from: 'bpftrace' };
  try {
    if (btf instanceof Error) throw btf;
    const members = [...new Set(programs.flatMap((p) => structMembers(p, 'net')))];
    return { from: 'btf', layout: btf.layout('net', members) };
  } catch (e) {
    notes.push(`nfscope could not read struct net from the kernel's BTF (${(e as Error).message}): it is read as bpftrace lays it out`);
    return { from: 'bpftrace' };
  }
}

/**
 * The structs read raw: those whose C definition costs bpftrace 0.17 seconds of clang under qemu TCG
 * (Debian 6.1 guest, 2026-12-07, compile and attach: kfree_skb_syn.bt 12.3-14.0 s typed, 7.7-8.4 s
 * with these read raw; ct_syn.bt 16.2-17.3 s, 14.0-14.3 s). Small ones cost more read raw than typed
 * (the listing server with nf_hook_entries and nf_hook_ops raw: 11.1-12.3 s against 9.9-10.5 s), so
 * they stay typed. (net and nf_conn have paths of their own.)
 */
const READ_RAW = new Set(['sk_buff', 'net_device', 'nf_hook_state']);

/**
 * The READ_RAW structs the programs read, laid out from the kernel's BTF so that adaptProgram reads
 * them raw: bpftrace 0.17 then has no C to make of them for clang. One not in vmlinux's BTF, or with
 * a member nfscope cannot read raw, is left to bpftrace, and said.
 */
async function structsSource(btf: Btf | Error | null, programs: string[], notes: string[]): Promise<StructLayout[]> {
  if (!btf || btf instanceof Error) return [];
  const names = [...new Set(programs.flatMap(structsRead))].filter((n) => READ_RAW.has(n)).sort();
  const out: StructLayout[] = [];
  for (const name of names) {
    try {
      const layout = btf.layout(name, [...new Set(programs.flatMap((p) => structMembers(p, name)))]);
      const odd = layout.members.find((m) => rawRead(m, '0') === null);
      if (odd) throw new Error(`${odd.name} is a ${odd.type} of ${odd.size} bytes, not read raw`);
      out.push(layout);
    } catch (e) {
      // Said without "struct NAME": hooks takes its netdev warnings by that phrase (netdevSource's).
      notes.push(`${name}'s members are read as bpftrace lays the struct out (slower to start), not at the BTF's offsets: ${(e as Error).message.replace(/\bstruct (\w+)/g, '$1')}`);
    }
  }
  return out;
}


/** The netdev hook heads struct net_device has (nf_hooks.bt reads both). */
async function netdevSource(btf: Btf | Error | null, notes: string[]): Promise<BpfShape['netdev']> {
  if (!btf || btf instanceof Error) return null;
  try {
    const has = { ingress: btf.hasMember('net_device', 'nf_hooks_ingress'), egress: btf.hasMember('net_device', 'nf_hooks_egress') };
    if (!has.ingress) notes.push('struct net_device has no nf_hooks_ingress here (CONFIG_NETFILTER_INGRESS off): no netdev ingress hooks to list');
    if (!has.egress) notes.push('struct net_device has no nf_hooks_egress here (the egress hook came in 5.16, CONFIG_NETFILTER_EGRESS): no netdev egress hooks to list');
    return has;
  } catch (e) {
    notes.push(`nfscope could not read struct net_device from the kernel's BTF (${(e as Error).message}): its netdev hook heads are read as written`);
    return null;
  }
}

async function nfConnSource(target: Target, release: string, programs: string[], notes: string[]): Promise<BpfShape['nfConn']> {
  const kconfig = (await readKconfig(target, release, NF_CONN_BTF_OPTIONS))?.cfg ?? null;
  // Unreadable config: the programs are left as written (BTF), and the note says it was not checked
  // (such a shape is never kept: a config that cannot be read now may be readable next time).
  if (!kconfig) notes.push(`the kernel config could not be read (/proc/config.gz, /boot/config-${release}): struct nf_conn is taken from BTF unchecked`);
  if (!kconfig || !nfConnInNoBtf(kconfig)) return { from: 'btf' };

  const why = 'nf_conntrack is a module and the kernel has no module BTF (CONFIG_DEBUG_INFO_BTF_MODULES is 5.11+), so struct nf_conn is in no BTF';
  const members = [...new Set(programs.flatMap(ctMembers))];
  const python = await drgnPython(target);
  let debug: string | null = null;
  for (const c of conntrackDebugCandidates(release)) if (await target.exists(c)) { debug = c; break; }
  if (!python || !debug) {
    const missing = !debug ? `its debug info (none of ${conntrackDebugCandidates(release)[0]}…; for the micro-VM: nfscope vm debuginfo --kernel …)` : 'drgn (apt-get install python3-drgn)';
    return { from: 'none', why: `${why}, and reading it from the debug info needs ${missing}` };
  }
  const r = runResult(await target.exec([python, await target.bundled('payload/drgn/ct_types.py'), debug, `nf_conn:${members.join(',')}`], { timeoutMs: 120_000 }));
  if (!r.ok) return { from: 'none', why: `${why}, and reading it from ${debug} failed: ${r.reason}` };
  const { layouts, errors } = parseStructLayouts(r.stdout);
  const layout = layouts.find((l) => l.struct === 'nf_conn');
  if (!layout) return { from: 'none', why: `${why}, and reading it from ${debug} gave no layout: ${errors[0] ?? 'no nf_conn in its output'}` };
  notes.push(`${why}: its layout comes from ${debug} (${layout.members.map((m) => `${m.name} at ${m.offset}`).join(', ')})`);
  return { from: 'debuginfo', layout };
}

const shapes = new WeakMap<Target, Map<string, Promise<BpfShape>>>();

/** The shape of a target, probed once per target (and tracefs: without it the kfree_skb format is not read). */
export function bpfShapeFor(target: Target, tracefs: string | null, release: string): Promise<BpfShape> {
  let byTracefs = shapes.get(target);
  if (!byTracefs) shapes.set(target, (byTracefs = new Map()));
  let p = byTracefs.get(tracefs ?? '');
  if (!p) {
    p = cachedShape(target, tracefs, release);
    byTracefs.set(tracefs ?? '', p);
    p.catch(() => byTracefs!.delete(tracefs ?? ''));
  }
  return p;
}

/**
 * The shape, kept for this boot and module placement (lib/boot-cache.ts): reading and parsing
 * the kernel's BTF is 50-55 ms of a 0.8 s `nfscope hooks` (6.18), before bpftrace can start. The
 * key names the boot, where the modules sit, the release, the bundled programs' files (the members
 * looked up come from them) and nfscope's own code that derives the shape (an upgrade without a
 * reboot probes again). One file with tracefs (trace-syn, follow, the lab) and one without (the
 * hook listing, which does not read kfree_skb: kfreeSkbReason is then not probed). Kept only when
 * every part probed came from the kernel itself: a layout from debug info, or a part that could not
 * be read, is probed again next time.
 */
async function cachedShape(target: Target, tracefs: string | null, release: string): Promise<BpfShape> {
  // Files by identity (path, inode, size, times: kernel/boot-key.ts), not read: a hit reads nothing.
  const key = release === 'unknown' ? null : await bootKey(target, () => [
    `bpf-shape ${tracefs ?? '-'} ${release}`,
    ...BUNDLED_PROGRAMS.map((b) => fileKey(join(PACKAGE_ROOT, templatePath(b)))),
    ...SHAPE_CODE.map((u) => fileKey(fileURLToPath(u))),
  ]);
  return cachedProbe(tracefs ? 'bpf-shape-tracefs' : 'bpf-shape', key, isKeptShape, async () => {
    const shape = await probeBpfShape(target, tracefs, release);
    return { value: shape, keep: isKeptShape(shape) };
  });
}

/** The modules whose code makes the shape: this one, the BTF parser, the programs' member lists (.ts under vitest). */
const EXT = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
const SHAPE_CODE = [import.meta.url, new URL(`../parsers/btf${EXT}`, import.meta.url).href, new URL(`../programs/adapt${EXT}`, import.meta.url).href];

/** A shape every part of which the kernel gave (the only kind kept): also the check of a cached one. */
export function isKeptShape(v: unknown): v is BpfShape {
  if (typeof v !== 'object' || v === null) return false;
  const o = v as Partial<Record<keyof BpfShape, unknown>>;
  const obj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null;
  if (!obj(o.nfConn) || o.nfConn.from !== 'btf') return false;
  const isLayout = (l: unknown): boolean => obj(l) && typeof l.struct === 'string' && Number.isInteger(l.size) && typeof l.source === 'string' && Array.isArray(l.members)
    && l.members.every((m: unknown) => obj(m) && typeof m.name === 'string' && Number.isInteger(m.offset) && Number.isInteger(m.size) && typeof m.type === 'string'
      && (m.bits === undefined || (obj(m.bits) && Number.isInteger(m.bits.shift) && Number.isInteger(m.bits.width))));
  if (!obj(o.net) || o.net.from !== 'btf' || !isLayout(o.net.layout) || (o.net.layout as { struct: unknown }).struct !== 'net') return false;
  if (!Array.isArray(o.structs) || !o.structs.every(isLayout)) return false;
  if (!obj(o.netdev) || typeof o.netdev.ingress !== 'boolean' || typeof o.netdev.egress !== 'boolean') return false;
  return typeof o.kfreeSkbReason === 'boolean' && Array.isArray(o.notes) && o.notes.every((n) => typeof n === 'string' && !/could not/.test(n));
}
