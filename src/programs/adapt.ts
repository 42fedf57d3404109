/**
 * A bundled program as this kernel needs it: the last, pure step of a fill.
 * What the kernel has is probed in kernel/bpf-shape.ts (probeBpfShape) and
 * arrives here as a BpfShape; the rewrite is text in, text out, so it is
 * tested beside the fills (test/unit/programs.test.ts, kernels.test.ts).
 * See kernel/bpf-shape.ts for what each adaptation is for.
 */
import { NO_REASON } from '../model/trace-syn.js';
import type { StructLayout } from '../parsers/struct-layout.js';

export interface BpfShape {
  /** skb:kfree_skb has a reason field. */
  kfreeSkbReason: boolean;
  /** How struct nf_conn reaches bpftrace: BTF, the debug info's layout, or not at all (why). */
  nfConn: { from: 'btf' } | { from: 'debuginfo'; layout: StructLayout } | { from: 'none'; why: string };
  /** How struct net is read: as bpftrace lays it out, or at the offsets of the kernel's BTF (why). */
  net: { from: 'bpftrace' } | { from: 'btf'; layout: StructLayout };
  /** Which netdev hook heads struct net_device has; null when the BTF could not tell (programs left as written). */
  netdev: { ingress: boolean; egress: boolean } | null;
  /** One line per adaptation, for progress and reports. */
  notes: string[];
}

/**
 * A read of a struct as the bundled programs spell it: ((struct NAME *)X)->a.b[0].c, where X may
 * hold parentheses two deep (((struct net *)((struct nf_conn *)$ct)->ct_net.net)->ns.inum).
 */
function access(struct: string): RegExp {
  const base = String.raw`(?:[^()\n]|\((?:[^()\n]|\([^()\n]*\))*\))+?`;
  return new RegExp(String.raw`\(\(struct ${struct} \*\)(${base})\)->([A-Za-z_]\w*(?:\[\d+\])?(?:\.[A-Za-z_]\w*(?:\[\d+\])?)*)`, 'g');
}

/** The program without its comments (which may spell a read as an example). */
function code(program: string): string {
  return program.replace(/\/\*[\s\S]*?\*\//g, (c) => c.replace(/[^\n]/g, ' ')).replace(/\/\/[^\n]*/g, '');
}

/** The member designators a program reads from struct NAME. */
export function structMembers(program: string, struct: string): string[] {
  return [...new Set([...code(program).matchAll(access(struct))].map((m) => m[2]!))];
}

/** The member designators a program reads from struct nf_conn. */
export function ctMembers(program: string): string[] {
  return structMembers(program, 'nf_conn');
}

const INT_TYPES: Record<number, string> = { 1: 'uint8', 2: 'uint16', 4: 'uint32', 8: 'uint64' };

/** Rewrites each read of the layout's struct into a raw read at the offset the layout gives. */
export function lowerStructAccesses(program: string, layout: StructLayout): string {
  return program.replace(access(layout.struct), (whole, base: string, member: string) => {
    const m = layout.members.find((x) => x.name === member);
    if (!m) throw new Error(`struct ${layout.struct}.${member}: not in the layout read from ${layout.source}`);
    const at = `(${base.trim()}) + ${m.offset}`;
    // A struct pointer keeps its pointee's type (struct net *, in vmlinux BTF) so `->` goes on working.
    if (/^struct \w+ \*$/.test(m.type)) return `((${m.type})*(uint64 *)((uint64)${at}))`;
    // A struct member is read whole, as a value, in one read: bpftrace then lays out only its inside
    // (nf_hooks.bt's $nf: one read of struct netns_nf, not 18 of its slots, 6 s less to compile under TCG).
    if (/^struct \w+$/.test(m.type)) return `(*((${m.type} *)((uint64)${at})))`;
    if (m.type.endsWith('*')) return `(*(uint64 *)((uint64)${at}))`;
    return `(*(${INT_TYPES[m.size]} *)((uint64)${at}))`;
  });
}

/** A program as this kernel needs it. Pure. */
export function adaptProgram(program: string, shape: BpfShape): string {
  let p = program;
  if (!shape.kfreeSkbReason) p = p.replace(/args->reason\b/g, `(${NO_REASON})`);
  if (shape.nfConn.from === 'debuginfo' && ctMembers(p).length) p = lowerStructAccesses(code(p), shape.nfConn.layout);
  if (shape.net.from === 'btf' && structMembers(p, 'net').length) p = lowerStructAccesses(code(p), shape.net.layout);
  for (const dir of ['ingress', 'egress'] as const) {
    if (shape.netdev && !shape.netdev[dir]) p = p.replace(new RegExp(String.raw`\(uint64\)\$dev->nf_hooks_${dir}\b`, 'g'), '(uint64)0');
  }
  return p;
}

/** True when a program reads struct nf_conn and the kernel cannot give bpftrace its type. */
export function needsNfConn(program: string, shape: BpfShape): string | null {
  return shape.nfConn.from === 'none' && ctMembers(program).length ? shape.nfConn.why : null;
}
