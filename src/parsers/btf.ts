/**
 * A reader of the kernel's BTF (/sys/kernel/btf/vmlinux, the format of
 * include/uapi/linux/btf.h), just enough to answer "at which offset is this
 * member, and of what type": struct sizes and member designators such as
 * nf.hooks_ipv4[1] or ns.inum, through typedefs, qualifiers, arrays and
 * anonymous members. Pure: it parses a Buffer.
 *
 * Why nfscope reads BTF itself: bpftrace 0.17 turns BTF into C and lets clang
 * lay it out; on Debian's 7.2 that gives struct net 4848 bytes where the BTF
 * says 4992, so every member after the first misplaced one is read at the
 * wrong address (kernel/bpf-shape.ts checks and corrects this).
 */
import type { MemberLayout, StructLayout } from './struct-layout.js';

export const KIND = { INT: 1, PTR: 2, ARRAY: 3, STRUCT: 4, UNION: 5, ENUM: 6, FWD: 7, TYPEDEF: 8, VOLATILE: 9, CONST: 10, RESTRICT: 11, FUNC: 12, FUNC_PROTO: 13, VAR: 14, DATASEC: 15, FLOAT: 16, DECL_TAG: 17, TYPE_TAG: 18, ENUM64: 19 } as const;

interface BtfType {
  name: string;
  kind: number;
  /** size (struct, union, int, enum, float) or the referenced type id (ptr, typedef, qualifiers, ...). */
  sizeOrType: number;
  members?: { name: string; type: number; bitOffset: number; bitSize: number }[];
  array?: { type: number; nelems: number };
}

export class Btf {
  /** Decoded types, made on first use: a listing needs a few dozen of vmlinux's ~150k. */
  private readonly decoded = new Map<number, BtfType>();

  private constructor(
    private readonly buf: Buffer,
    /** Byte offset in buf of each type's header, by type id less `first` (a base BTF: by type id; 0: void). */
    private readonly at: Uint32Array,
    /** One more than the last type id. */
    private readonly count: number,
    private readonly str: (o: number) => string,
    /** The string section's length, base's included: a split BTF's own strings start there. */
    private readonly strEnd: number,
    /** The first type id of this BTF's own (1; a split BTF continues its base's ids). */
    private readonly first: number,
    private readonly base: Btf | null,
    /** Where it was read: named in the layouts. */
    readonly source: string,
    /** This BTF's own string section: its byte offset in buf and its length. */
    private readonly strSection: { off: number; len: number } = { off: 0, len: 0 },
  ) {}

  /**
   * One pass records where each type starts; names and members are decoded only for the types a
   * question reaches (issue 14: decoding all of 6.18's BTF took 36-66 ms on every bpftrace start).
   */
  static parse(buf: Buffer, base: Btf | null = null, source = '/sys/kernel/btf/vmlinux'): Btf {
    if (buf.length < 24 || buf.readUInt16LE(0) !== 0xeb9f) throw new Error('not BTF (magic 0xeb9f)');
    const hdrLen = buf.readUInt32LE(4);
    const typeOff = hdrLen + buf.readUInt32LE(8);
    const typeLen = buf.readUInt32LE(12);
    const strOff = hdrLen + buf.readUInt32LE(16);
    const strLen = buf.readUInt32LE(20);
    if (typeOff + typeLen > buf.length || strOff + strLen > buf.length) throw new Error('BTF sections run past the end');
    // A module's BTF is split: its type ids follow its base's (vmlinux), and its string offsets
    // continue the base's string section (libbpf btf__parse_split; the kernel's btf_parse_module).
    const baseEnd = base ? base.strEnd : 0;
    const str = (o: number): string => {
      if (o < baseEnd) return base!.str(o);
      const own = o - baseEnd;
      if (own >= strLen) throw new Error(`BTF string offset ${o} out of range`);
      const end = buf.indexOf(0, strOff + own);
      return buf.toString('latin1', strOff + own, end);
    };
    const first = base ? base.count : 1;
    let at = new Uint32Array(1 << 16);
    let n = first;
    let i = typeOff;
    const end = typeOff + typeLen;
    while (i < end) {
      if (n - first + 1 >= at.length) {
        const grown = new Uint32Array(at.length * 2);
        grown.set(at);
        at = grown;
      }
      at[n++ - first + 1] = i;
      const info = buf.readUInt32LE(i + 4);
      i += 12;
      const kind = (info >>> 24) & 0x1f;
      const vlen = info & 0xffff;
      switch (kind) {
        case KIND.INT: case KIND.DECL_TAG: case KIND.VAR: i += 4; break;
        case KIND.ARRAY: i += 12; break;
        case KIND.STRUCT: case KIND.UNION: i += 12 * vlen; break;
        case KIND.ENUM: i += 8 * vlen; break;
        case KIND.FUNC_PROTO: i += 8 * vlen; break;
        case KIND.DATASEC: case KIND.ENUM64: i += 12 * vlen; break;
        case KIND.PTR: case KIND.FWD: case KIND.TYPEDEF: case KIND.VOLATILE: case KIND.CONST: case KIND.RESTRICT:
        case KIND.FUNC: case KIND.FLOAT: case KIND.TYPE_TAG: break;
        default: throw new Error(`BTF kind ${kind} unknown to nfscope (type ${n - 1})`);
      }
    }
    if (i !== end) throw new Error('BTF types run past their section');
    return new Btf(buf, at, n, str, baseEnd + strLen, first, base, source, { off: strOff, len: strLen });
  }

  /** The buffer and byte offset of type `id`'s header: in the base for its ids. */
  private header(id: number): [Buffer, number] {
    if (id < this.first) return this.base!.header(id);
    return [this.buf, this.at[id - this.first + 1]!];
  }

  private kindOf(id: number): number {
    const [buf, i] = this.header(id);
    return (buf.readUInt32LE(i + 4) >>> 24) & 0x1f;
  }

  private type(id: number): BtfType {
    if (id === 0) return { name: 'void', kind: 0, sizeOrType: 0 };
    if (!(id > 0 && id < this.count)) throw new Error(`BTF type id ${id} out of range`);
    if (id < this.first) return this.base!.type(id);
    const known = this.decoded.get(id);
    if (known) return known;
    const { buf } = this;
    let i = this.header(id)[1];
    const info = buf.readUInt32LE(i + 4);
    const kind = (info >>> 24) & 0x1f;
    const vlen = info & 0xffff;
    const kflag = info >>> 31;
    const t: BtfType = { name: this.str(buf.readUInt32LE(i)), kind, sizeOrType: buf.readUInt32LE(i + 8) };
    i += 12;
    if (kind === KIND.ARRAY) t.array = { type: buf.readUInt32LE(i), nelems: buf.readUInt32LE(i + 8) };
    if (kind === KIND.STRUCT || kind === KIND.UNION) {
      t.members = [];
      for (let m = 0; m < vlen; m++, i += 12) {
        const off = buf.readUInt32LE(i + 8);
        t.members.push({ name: this.str(buf.readUInt32LE(i)), type: buf.readUInt32LE(i + 4), bitOffset: kflag ? off & 0xffffff : off, bitSize: kflag ? off >>> 24 : 0 });
      }
    }
    this.decoded.set(id, t);
    return t;
  }

  private resolve(id: number): number {
    for (let n = 0; n < 32; n++) {
      const t = this.type(id);
      if (![KIND.TYPEDEF, KIND.VOLATILE, KIND.CONST, KIND.RESTRICT, KIND.TYPE_TAG].includes(t.kind as 8)) return id;
      id = t.sizeOrType;
    }
    throw new Error('BTF typedef chain too long');
  }

  sizeOf(id: number): number {
    const t = this.type(this.resolve(id));
    if (t.kind === KIND.PTR) return 8;
    if (t.kind === KIND.ARRAY) return this.sizeOf(t.array!.type) * t.array!.nelems;
    return t.sizeOrType;
  }

  /** The C spelling of a member's type, as far as nfscope needs it: an integer, `struct X *` or `struct X`. */
  private typeName(id: number): string {
    const r = this.type(this.resolve(id));
    if (r.kind === KIND.PTR) {
      const to = this.type(this.resolve(r.sizeOrType));
      return to.kind === KIND.STRUCT || to.kind === KIND.UNION || to.kind === KIND.FWD ? `struct ${to.name} *` : 'void *';
    }
    if (r.kind === KIND.STRUCT) return `struct ${r.name}`;
    if (r.kind === KIND.UNION) return `union ${r.name}`;
    if (r.kind === KIND.ARRAY) return `${this.typeName(r.array!.type)}[${r.array!.nelems}]`;
    return r.name || `kind ${r.kind}`;
  }

  /** An integer's (or enum's) sign and width as the BTF encodes them; null for any other type. */
  private intEncoding(id: number): { signed: boolean; bits: number; bitOffset: number } | null {
    const r = this.resolve(id);
    const t = this.type(r);
    const [buf, at] = this.header(r);
    const info = buf.readUInt32LE(at + 4);
    if (t.kind === KIND.INT) {
      const data = buf.readUInt32LE(at + 12);
      return { signed: ((data >>> 24) & 0xf & 1) === 1, bits: data & 0xff, bitOffset: (data >>> 16) & 0xff };
    }
    // An enum's kind_flag says signed (BTF since 6.0); without it, unsigned.
    if (t.kind === KIND.ENUM || t.kind === KIND.ENUM64) return { signed: info >>> 31 === 1, bits: t.sizeOrType * 8, bitOffset: 0 };
    return null;
  }

  /** Type ids this BTF's own types run over: [first, end) (a split BTF's continue its base's). */
  get ownIds(): { first: number; end: number } {
    return { first: this.first, end: this.count };
  }

  /** The base BTF a split one continues (vmlinux's for a module's), or null. */
  get baseBtf(): Btf | null {
    return this.base;
  }

  /**
   * Type `id` as stored: its name, kind, kind_flag, vlen, the size-or-type word and the bytes of
   * its kind-specific tail (members, enumerators, array, int encoding). For a writer of a subset
   * (programs/btf-subset.ts). id 0 is void and has no record.
   */
  record(id: number): { name: string; kind: number; kflag: number; vlen: number; sizeOrType: number; tail: Buffer; names: (o: number) => string } {
    if (!(id > 0 && id < this.count)) throw new Error(`BTF type id ${id} out of range`);
    const [buf, i] = this.header(id);
    const info = buf.readUInt32LE(i + 4);
    const kind = (info >>> 24) & 0x1f;
    const vlen = info & 0xffff;
    const tailLen = ({ [KIND.INT]: 4, [KIND.DECL_TAG]: 4, [KIND.VAR]: 4, [KIND.ARRAY]: 12, [KIND.STRUCT]: 12 * vlen, [KIND.UNION]: 12 * vlen, [KIND.ENUM]: 8 * vlen, [KIND.FUNC_PROTO]: 8 * vlen, [KIND.DATASEC]: 12 * vlen, [KIND.ENUM64]: 12 * vlen } as Record<number, number>)[kind] ?? 0;
    const owner = id < this.first ? this.base! : this;
    return { name: owner.str(buf.readUInt32LE(i)), kind, kflag: info >>> 31, vlen, sizeOrType: buf.readUInt32LE(i + 8), tail: buf.subarray(i + 12, i + 12 + tailLen), names: (o) => owner.str(o) };
  }

  /** The string offsets (as type records spell them) where `name` is: its base's and its own. */
  private offsetsOf(name: string): number[] {
    const known = this.offsets.get(name);
    if (known) return known;
    const out = this.base ? [...this.base.offsetsOf(name)] : [];
    const { off, len } = this.strSection;
    const needle = Buffer.from(`\0${name}\0`, 'latin1');
    const baseEnd = this.strEnd - len;
    // A string at the section's start has no NUL before it: a module's (split) section starts with one
    // of its own (nf_tables' with nft_registers), a base section with the empty string.
    if (this.buf.toString('latin1', off, Math.min(off + len, off + name.length + 1)) === `${name}\0`) out.push(baseEnd);
    for (let i = this.buf.indexOf(needle, off); i >= 0 && i + needle.length <= off + len; i = this.buf.indexOf(needle, i + 1)) out.push(baseEnd + i + 1 - off);
    this.offsets.set(name, out);
    return out;
  }

  private readonly offsets = new Map<string, number[]>();

  /** The ids of this BTF's own types of one of `kinds` named `name` (its base's not included). */
  named(name: string, kinds: readonly number[]): number[] {
    return this.namedAll([name]).get(name)!.filter((id) => kinds.includes(this.kindOf(id)));
  }

  /**
   * The ids of this BTF's own types named each of `names`, any kind: the names' string offsets
   * first, then one pass over the types comparing numbers, no name decoded (the kernel's ~130k
   * types, 3-5 ms; an index of them all cost 20 ms on every cold `nfscope hooks`).
   */
  namedAll(names: readonly string[]): Map<string, number[]> {
    const out = new Map(names.map((n) => [n, [] as number[]]));
    const byOff = new Map<number, string>();
    for (const n of names) for (const o of this.offsetsOf(n)) byOff.set(o, n);
    if (byOff.size === 0) return out;
    const { buf, at, first } = this;
    for (let id = first; id < this.count; id++) {
      const n = byOff.get(buf.readUInt32LE(at[id - first + 1]!));
      if (n !== undefined) out.get(n)!.push(id);
    }
    return out;
  }

  /** A struct with members by name: this BTF's own first (a module's), then its base's. */
  structId(name: string): number | null {
    for (let id = this.first; id < this.count; id++) {
      if (this.kindOf(id) !== KIND.STRUCT) continue;
      const [buf, i] = this.header(id);
      if (this.str(buf.readUInt32LE(i)) !== name) continue;
      if (this.type(id).members!.length > 0) return id;
    }
    return this.base ? this.base.structId(name) : null;
  }

  /** A member by name in a struct or union, looking through anonymous members: its byte offset and type. */
  private member(id: number, name: string): { offset: number; type: number; bitSize: number } | null {
    const t = this.type(this.resolve(id));
    for (const m of t.members ?? []) {
      if (m.name === name) return { offset: m.bitOffset / 8, type: m.type, bitSize: m.bitSize };
      if (m.name === '') {
        const inner = this.member(m.type, name);
        if (inner) return { offset: m.bitOffset / 8 + inner.offset, type: inner.type, bitSize: inner.bitSize };
      }
    }
    return null;
  }

  /** Whether `struct NAME` has a member called `name` (through anonymous members); throws when the struct is not in the BTF. */
  hasMember(struct: string, name: string): boolean {
    const id = this.structId(struct);
    if (id === null) throw new Error(`struct ${struct} is not in the BTF`);
    return this.member(id, name) !== null;
  }

  /**
   * Offset, size and type of a designator (a.b[2].c) in `struct NAME`. A bitfield (nft_table's
   * `u16 family:6`) is given as the smallest little-endian word that holds it, with its shift and
   * width in `bits`.
   */
  layout(struct: string, designators: string[]): StructLayout {
    const id = this.structId(struct);
    if (id === null) throw new Error(`struct ${struct} is not in the BTF`);
    const members: MemberLayout[] = designators.map((d) => {
      let type = id;
      let offset = 0;
      let bitSize = 0;
      for (const part of d.split('.')) {
        const m = /^([A-Za-z_]\w*)((?:\[\d+\])*)$/.exec(part);
        if (!m) throw new Error(`bad member designator ${d}`);
        if (bitSize) throw new Error(`struct ${struct}: ${d} reaches into a bitfield`);
        const found = this.member(type, m[1]!);
        if (!found) throw new Error(`struct ${struct}: no member ${d}`);
        offset += found.offset;
        type = found.type;
        // A bitfield of a struct with kind_flag: its width is the member's, not its type's.
        bitSize = found.bitSize;
        for (const idx of [...m[2]!.matchAll(/\[(\d+)\]/g)].map((x) => Number(x[1]))) {
          const arr = this.type(this.resolve(type));
          if (arr.kind !== KIND.ARRAY || bitSize) throw new Error(`struct ${struct}: ${d} indexes a non-array`);
          offset += idx * this.sizeOf(arr.array!.type);
          type = arr.array!.type;
        }
      }
      const int = this.intEncoding(type);
      // A bitfield of a struct without kind_flag has its width and bit offset in the int type itself.
      if (!bitSize && int && (int.bits !== this.sizeOf(type) * 8 || int.bitOffset !== 0)) {
        bitSize = int.bits;
        offset += int.bitOffset / 8;
      }
      if (bitSize || !Number.isInteger(offset)) {
        if (!int || !bitSize) throw new Error(`struct ${struct}: ${d} is a bitfield of no integer type`);
        const start = Math.round(offset * 8);
        const shift = start % 8;
        const size = [1, 2, 4, 8].find((n) => n * 8 >= shift + bitSize);
        if (!size) throw new Error(`struct ${struct}: ${d} is a bitfield across more than 8 bytes`);
        return { name: d, offset: (start - shift) / 8, size, type: this.typeName(type), signed: int.signed, bits: { shift, width: bitSize } };
      }
      return { name: d, offset, size: this.sizeOf(type), type: this.typeName(type), ...(int ? { signed: int.signed } : {}) };
    });
    return { struct, size: this.sizeOf(id), members, source: this.source };
  }
}
