/**
 * A bundled program as this kernel needs it: the last, pure step of a fill.
 * What the kernel has is probed in kernel/bpf-shape.ts (probeBpfShape) and
 * arrives here as a BpfShape; the rewrite is text in, text out, so it is
 * tested beside the fills (test/unit/programs.test.ts, kernels.test.ts).
 * See kernel/bpf-shape.ts for what each adaptation is for.
 */
import { NO_REASON } from '../model/trace-syn.js';
import type { MemberLayout, StructLayout } from '../parsers/struct-layout.js';

export interface BpfShape {
  /** skb:kfree_skb has a reason field. */
  kfreeSkbReason: boolean;
  /** How struct nf_conn reaches bpftrace: BTF, the debug info's layout, or not at all (why). */
  nfConn: { from: 'btf' } | { from: 'debuginfo'; layout: StructLayout } | { from: 'none'; why: string };
  /** How struct net is read: as bpftrace lays it out, or at the offsets of the kernel's BTF (why). */
  net: { from: 'bpftrace' } | { from: 'btf'; layout: StructLayout };
  /**
   * The large structs of vmlinux the programs read (kernel/bpf-shape.ts READ_RAW), at the offsets of
   * the kernel's BTF, so that they are read raw (lowerStructAccesses); a struct whose reads could
   * not all be laid out is not here, and is read as bpftrace lays it out.
   */
  structs: StructLayout[];
  /** Which netdev hook heads struct net_device has; null when the BTF could not tell (programs left as written). */
  netdev: { ingress: boolean; egress: boolean } | null;
  /** One line per adaptation, for progress and reports. */
  notes: string[];
}

/** One read of a struct as the bundled programs spell it: ((struct NAME *)BASE)->a.b[0].c. */
interface StructRead {
  struct: string;
  member: string;
  /** Where the read starts (its first parenthesis) and ends (after the member designator). */
  start: number;
  end: number;
  /** BASE: any expression, its parentheses balanced, nested to any depth. */
  base: string;
}

const DESIGNATOR = /^->([A-Za-z_]\w*(?:\[\d+\])*(?:\.[A-Za-z_]\w*(?:\[\d+\])*)*)/;

/** The read that starts at `i` (where `((struct NAME *)` is), or null when none does. */
function readAt(text: string, i: number): StructRead | null {
  const cast = /^\(\(struct (\w+) \*\)/.exec(text.slice(i, i + 80));
  if (!cast) return null;
  let depth = 1;
  let j = i + 1;
  // A base is an expression of one line or a few: past 400 characters it is not one.
  for (; j < text.length && j - i < 400 && depth > 0; j++) {
    if (text[j] === '(') depth++;
    else if (text[j] === ')') depth--;
  }
  if (depth !== 0) return null;
  const member = DESIGNATOR.exec(text.slice(j, j + 200));
  if (!member) return null;
  return { struct: cast[1]!, member: member[1]!, start: i, end: j + member[0].length, base: text.slice(i + cast[0].length, j - 1) };
}

/** The program without its comments (which may spell a read as an example). */
function code(program: string): string {
  return program.replace(/\/\*[\s\S]*?\*\//g, (c) => c.replace(/[^\n]/g, ' ')).replace(/\/\/[^\n]*/g, '');
}

/** Every struct read in a program's code, a base's own reads included. */
function structReads(program: string): StructRead[] {
  const text = code(program);
  const out: StructRead[] = [];
  for (let i = text.indexOf('((struct '); i >= 0; i = text.indexOf('((struct ', i + 1)) {
    const r = readAt(text, i);
    if (r) out.push(r);
  }
  return out;
}

/** The structs a program reads (by the spelling above). */
export function structsRead(program: string): string[] {
  return [...new Set(structReads(program).map((r) => r.struct))];
}

/** The member designators a program reads from struct NAME. */
export function structMembers(program: string, struct: string): string[] {
  return [...new Set(structReads(program).filter((r) => r.struct === struct).map((r) => r.member))];
}

/** Every struct a program reads, with the member designators it reads of each. */
export function membersRead(program: string): Map<string, string[]> {
  return new Map(structsRead(program).map((n) => [n, structMembers(program, n)]));
}

/** The member designators a program reads from struct nf_conn. */
export function ctMembers(program: string): string[] {
  return structMembers(program, 'nf_conn');
}

const INT_BITS: Record<number, string> = { 1: '8', 2: '16', 4: '32', 8: '64' };

/**
 * How a member is read at an address without its struct's type, or null when it cannot be: an
 * integer as an integer of its size and sign (a hook's priority is a signed int), a pointer as a
 * u64, a struct member as a value of its own struct type (nf_hooks.bt's $nf: one read of struct
 * netns_nf, not 18 of its slots, 6 s less to compile under TCG).
 */
export function rawRead(m: MemberLayout, at: string): string | null {
  if (/^(struct|union) \w+$/.test(m.type)) return `(*((${m.type} *)((uint64)${at})))`;
  if (m.type.endsWith('*')) return m.size === 8 ? `(*(uint64 *)((uint64)${at}))` : null;
  // An anonymous struct or union has no name to read it by.
  if (/^(struct|union)\b/.test(m.type)) return null;
  // A char array held in the struct (xt_table's name[32]): the string at its address, as bpftrace
  // reads a typed one. Byte arrays (u8, an IPv6 address) are not strings.
  if (/^char\[\d+\]$/.test(m.type)) return `str((uint64)${at}, ${m.size})`;
  const bits = INT_BITS[m.size];
  // Any other array, or a float, is not read raw.
  if (!bits || /^kind |\b(?:float|double)\b/.test(m.type)) return null;
  // The BTF's own sign where the layout has it (a char is unsigned in kernels built since 6.2); a
  // debug info layout's by its C name.
  const signed = m.signed ?? /^(?:signed )?(?:char|short|long|long long|(?:short |long |long long )?int)$/.test(m.type);
  if (m.bits) {
    // A bitfield: its word read unsigned, shifted and masked (x86 is little-endian). A signed one
    // would need its sign spread by hand: not read raw.
    if (signed || m.bits.width >= 64) return null;
    const word = `(*(uint${bits} *)((uint64)${at}))`;
    return `((${m.bits.shift ? `${word} >> ${m.bits.shift}` : word}) & 0x${((1n << BigInt(m.bits.width)) - 1n).toString(16)})`;
  }
  return `(*(${signed ? '' : 'u'}int${bits} *)((uint64)${at}))`;
}

/**
 * Rewrites each read of a struct that has a layout into a raw read at the offset the layout
 * gives, bases first. Without its struct's name in the program, bpftrace 0.17 has no C type to
 * make from BTF and have clang parse: seconds of a tracer's start under qemu TCG (a 6.1 guest:
 * kfree_skb_syn.bt 12.3-14.0 s typed, 7.7-8.4 s lowered). A pointer member becomes a u64, so a read
 * through it is spelled as a cast again (((struct net *)((struct sk_buff *)$skb)->dev)->...).
 */
export function lowerStructAccesses(program: string, layouts: StructLayout | StructLayout[]): string {
  const by = new Map((Array.isArray(layouts) ? layouts : [layouts]).map((l) => [l.struct, l]));
  const lower = (text: string): string => {
    let out = '';
    let i = 0;
    for (let k = text.indexOf('((struct ', i); k >= 0; k = text.indexOf('((struct ', i)) {
      const r = readAt(text, k);
      const layout = r ? by.get(r.struct) : undefined;
      if (!r || !layout) {
        out += text.slice(i, k + 1);
        i = k + 1;
        continue;
      }
      const m = layout.members.find((x) => x.name === r.member);
      if (!m) throw new Error(`struct ${r.struct}.${r.member}: not in the layout read from ${layout.source}`);
      const read = rawRead(m, `(${lower(r.base).trim()}) + ${m.offset}`);
      if (!read) throw new Error(`struct ${r.struct}.${r.member}: a ${m.type} of ${m.size} bytes, which nfscope does not read raw`);
      out += text.slice(i, k) + read;
      i = r.end;
    }
    return out + text.slice(i);
  };
  return lower(program);
}

/** A program as this kernel needs it. Pure. */
export function adaptProgram(program: string, shape: BpfShape): string {
  let p = program;
  if (!shape.kfreeSkbReason) p = p.replace(/args->reason\b/g, `(${NO_REASON})`);
  const layouts = [
    ...(shape.nfConn.from === 'debuginfo' ? [shape.nfConn.layout] : []),
    ...(shape.net.from === 'btf' ? [shape.net.layout] : []),
    ...shape.structs,
  ];
  const read = structsRead(p);
  if (layouts.some((l) => read.includes(l.struct))) p = lowerStructAccesses(code(p), layouts);
  for (const dir of ['ingress', 'egress'] as const) {
    if (shape.netdev && !shape.netdev[dir]) p = p.replace(new RegExp(String.raw`\(uint64\)\$dev->nf_hooks_${dir}\b`, 'g'), '(uint64)0');
  }
  return p;
}

/** True when a program reads struct nf_conn and the kernel cannot give bpftrace its type. */
export function needsNfConn(program: string, shape: BpfShape): string | null {
  return shape.nfConn.from === 'none' && ctMembers(program).length ? shape.nfConn.why : null;
}
