/**
 * The BTF a bpftrace program needs, and nothing more: the types it names, as a raw BTF file that
 * nfscope hands bpftrace in BPFTRACE_BTF. Pure: BTF in, bytes out.
 *
 * Why: bpftrace 0.17 (Debian 12's) looks every cast's type up by name in the kernel's BTF, vmlinux's
 * and every loaded module's, with libbpf 1.1's btf__find_by_name, a scan of all ~110k types. Under
 * qemu TCG that is 0.2 s a cast: a 6.1 guest compiled 40 `(uint64)` casts in 9.1 s, and ct_syn.bt's
 * 46 casts made 12-13.5 s of its start; with a BTF of the few types the program names, the same 40
 * casts compiled in 1.2 s (perf in the guest: btf__find_by_name and strcmp, 60% of the compile).
 *
 * What the subset holds, so that bpftrace and the clang it turns BTF into see the same types:
 * - each named struct, union, enum or typedef in full, and what they hold by value;
 * - behind a pointer, a struct or union only as a forward declaration (`struct sock;`), unless the
 *   program dereferences that member by name (`->nsproxy`), which brings it in full;
 * - a pointer to a function as `void *` (bpftrace never calls through one).
 * Member offsets, sizes and bitfields are copied as the kernel's BTF has them.
 */
import { KIND, type Btf } from '../parsers/btf.js';

/** A type a program needs: `struct X`, `union X`, `enum X`, or a typedef's (or base type's) bare name. */
export type TypeRoot = string;

const MODIFIERS: readonly number[] = [KIND.TYPEDEF, KIND.VOLATILE, KIND.CONST, KIND.RESTRICT, KIND.TYPE_TAG];

/** The BTF kinds a root's spelling may be found as. */
function kindsOf(root: TypeRoot): { name: string; kinds: number[] } {
  const m = /^(struct|union|enum) (\w+)$/.exec(root);
  if (!m) return { name: root, kinds: [KIND.TYPEDEF, KIND.INT, KIND.FLOAT] };
  return { name: m[2]!, kinds: m[1] === 'struct' ? [KIND.STRUCT] : m[1] === 'union' ? [KIND.UNION] : [KIND.ENUM, KIND.ENUM64] };
}

/** A type of one BTF: module BTFs share the id range above vmlinux's, so an id needs its BTF. */
interface Ref {
  btf: Btf;
  id: number;
}

/**
 * The types of `roots`, looked up in `btfs` in order (vmlinux's first, then modules'), as one raw
 * BTF file. `derefs` are the member names the program follows through a pointer (`->name`): those
 * pointees are given in full. Roots found in none are in `missing`, and the file lacks them.
 */
export function btfSubset(btfs: readonly Btf[], roots: readonly TypeRoot[], derefs: ReadonlySet<string> = new Set()): { blob: Buffer; missing: string[]; types: number } {
  const missing: string[] = [];
  const start: Ref[] = [];
  // Every root's name looked up in one pass over each BTF's types.
  const wanted = [...new Set(roots)];
  const byName = btfs.map((btf) => btf.namedAll(wanted.map((r) => kindsOf(r).name)));
  for (const root of wanted) {
    const { name, kinds } = kindsOf(root);
    let found: Ref | null = null;
    for (const [i, btf] of btfs.entries()) {
      // A struct with members over a declaration of the same name.
      const ids = byName[i]!.get(name)!.filter((id) => kinds.includes(btf.record(id).kind)).sort((a, b) => btf.record(b).vlen - btf.record(a).vlen);
      if (ids.length) {
        found = { btf, id: ids[0]! };
        break;
      }
    }
    if (found) start.push(found);
    else missing.push(root);
  }

  // Pass 1: what is needed in full (reached by value, or named, or dereferenced by name).
  const full = new Set<string>();
  // A type is keyed by the BTF that holds it: a module's BTF reaches vmlinux's types by their own
  // ids, and one type met through two modules (list_head) is still one type, written once.
  const owners = new Map<Btf, number>();
  const key = (r: Ref): string => {
    let b = r.btf;
    while (r.id < b.ownIds.first && b.baseBtf) b = b.baseBtf;
    let n = owners.get(b);
    if (n === undefined) owners.set(b, (n = owners.size));
    return `${n}:${r.id}`;
  };
  const stack = [...start];
  const memberTypes = (r: Ref): { name: string; type: number }[] => {
    const t = r.btf.record(r.id);
    const out: { name: string; type: number }[] = [];
    for (let m = 0; m < t.vlen; m++) out.push({ name: t.names(t.tail.readUInt32LE(12 * m)), type: t.tail.readUInt32LE(12 * m + 4) });
    return out;
  };
  /** Through typedefs and qualifiers to what a pointer points at. */
  const pointee = (r: Ref): Ref => {
    let id = r.id;
    for (let n = 0; n < 32 && id !== 0; n++) {
      const t = r.btf.record(id);
      if (!MODIFIERS.includes(t.kind)) break;
      id = t.sizeOrType;
    }
    return { btf: r.btf, id };
  };
  /** What a member of pointer type (through typedefs, qualifiers and arrays) points at, or null. */
  const pointerTarget = (r: Ref): Ref | null => {
    let id = r.id;
    for (let n = 0; n < 32 && id !== 0; n++) {
      const t = r.btf.record(id);
      if (t.kind === KIND.PTR) return pointee({ btf: r.btf, id: t.sizeOrType });
      if (t.kind === KIND.ARRAY) id = t.tail.readUInt32LE(0);
      else if (MODIFIERS.includes(t.kind)) id = t.sizeOrType;
      else return null;
    }
    return null;
  };
  while (stack.length) {
    const r = stack.pop()!;
    if (r.id === 0 || full.has(key(r))) continue;
    full.add(key(r));
    const t = r.btf.record(r.id);
    const next = (id: number) => stack.push({ btf: r.btf, id });
    switch (t.kind) {
      case KIND.STRUCT: case KIND.UNION:
        for (const m of memberTypes(r)) {
          // A pointer member (or an array of them) the program follows by name: its struct in full.
          if (derefs.has(m.name)) {
            const to = pointerTarget({ btf: r.btf, id: m.type });
            if (to) stack.push(to);
          }
          next(m.type);
        }
        break;
      case KIND.ARRAY:
        next(t.tail.readUInt32LE(0));
        next(t.tail.readUInt32LE(4));
        break;
      case KIND.PTR: {
        // Behind a pointer: qualifiers and typedefs as they are, a struct or union as a declaration.
        const p = pointee({ btf: r.btf, id: t.sizeOrType });
        const at = p.id === 0 ? null : r.btf.record(p.id);
        const k = at?.kind ?? 0;
        for (let id = t.sizeOrType; id !== p.id; id = r.btf.record(id).sizeOrType) full.add(key({ btf: r.btf, id }));
        // A struct without a name (`typedef struct { … } pmd_t;`) has no declaration to stand for it: in full.
        const anonymous = (k === KIND.STRUCT || k === KIND.UNION) && at!.name === '';
        if (anonymous || (k !== KIND.STRUCT && k !== KIND.UNION && k !== KIND.FUNC_PROTO && k !== KIND.FWD)) stack.push(p);
        break;
      }
      default:
        if (MODIFIERS.includes(t.kind)) next(t.sizeOrType);
    }
  }

  // Pass 2: write. New ids in the order types are first reached; strings deduplicated.
  const strings: Buffer[] = [Buffer.from([0])];
  let strLen = 1;
  const strAt = new Map<string, number>([['', 0]]);
  const str = (s: string): number => {
    let o = strAt.get(s);
    if (o === undefined) {
      o = strLen;
      strAt.set(s, o);
      const b = Buffer.from(`${s}\0`, 'latin1');
      strings.push(b);
      strLen += b.length;
    }
    return o;
  };
  const newId = new Map<string, number>();
  const records: Buffer[] = [];
  const header = (name: string, kind: number, kflag: number, vlen: number, sizeOrType: number): Buffer => {
    const h = Buffer.alloc(12);
    h.writeUInt32LE(str(name), 0);
    h.writeUInt32LE((((kflag & 1) << 31) | ((kind & 0x1f) << 24) | (vlen & 0xffff)) >>> 0, 4);
    h.writeUInt32LE(sizeOrType >>> 0, 8);
    return h;
  };
  /** The new id of `r` as a full type, or as a declaration where pass 1 did not need it in full. */
  const emit = (r: Ref): number => {
    if (r.id === 0) return 0;
    const k = key(r);
    const fwd = !full.has(k);
    const mapKey = fwd ? `fwd:${k}` : k;
    const known = newId.get(mapKey);
    if (known !== undefined) return known;
    const t = r.btf.record(r.id);
    const id = records.length + 1;
    newId.set(mapKey, id);
    records.push(Buffer.alloc(0));
    let out: Buffer;
    if (fwd) {
      // Only a struct or union is ever left as a declaration: pass 1 takes everything else in full.
      if (t.kind === KIND.FWD) out = header(t.name, KIND.FWD, t.kflag, 0, 0);
      else if (t.kind === KIND.STRUCT || t.kind === KIND.UNION) out = header(t.name, KIND.FWD, t.kind === KIND.UNION ? 1 : 0, 0, 0);
      else throw new Error(`BTF type ${t.name || r.id} (kind ${t.kind}) reached but not laid out`);
    } else {
      switch (t.kind) {
        case KIND.STRUCT: case KIND.UNION: {
          const tail = Buffer.alloc(12 * t.vlen);
          for (let m = 0; m < t.vlen; m++) {
            tail.writeUInt32LE(str(t.names(t.tail.readUInt32LE(12 * m))), 12 * m);
            tail.writeUInt32LE(emit({ btf: r.btf, id: t.tail.readUInt32LE(12 * m + 4) }), 12 * m + 4);
            tail.writeUInt32LE(t.tail.readUInt32LE(12 * m + 8), 12 * m + 8);
          }
          out = Buffer.concat([header(t.name, t.kind, t.kflag, t.vlen, t.sizeOrType), tail]);
          break;
        }
        case KIND.ENUM: case KIND.ENUM64: {
          const w = t.kind === KIND.ENUM ? 8 : 12;
          const tail = Buffer.from(t.tail);
          for (let m = 0; m < t.vlen; m++) tail.writeUInt32LE(str(t.names(t.tail.readUInt32LE(w * m))), w * m);
          out = Buffer.concat([header(t.name, t.kind, t.kflag, t.vlen, t.sizeOrType), tail]);
          break;
        }
        case KIND.ARRAY: {
          const tail = Buffer.alloc(12);
          tail.writeUInt32LE(emit({ btf: r.btf, id: t.tail.readUInt32LE(0) }), 0);
          tail.writeUInt32LE(emit({ btf: r.btf, id: t.tail.readUInt32LE(4) }), 4);
          tail.writeUInt32LE(t.tail.readUInt32LE(8), 8);
          out = Buffer.concat([header('', KIND.ARRAY, 0, 0, 0), tail]);
          break;
        }
        case KIND.INT:
          out = Buffer.concat([header(t.name, KIND.INT, 0, 0, t.sizeOrType), Buffer.from(t.tail)]);
          break;
        case KIND.FLOAT:
          out = header(t.name, KIND.FLOAT, 0, 0, t.sizeOrType);
          break;
        case KIND.PTR: {
          const p = pointee({ btf: r.btf, id: t.sizeOrType });
          const to = p.id !== 0 && r.btf.record(p.id).kind === KIND.FUNC_PROTO ? 0 : emit({ btf: r.btf, id: t.sizeOrType });
          out = header('', KIND.PTR, 0, 0, to);
          break;
        }
        case KIND.TYPE_TAG:
          // A tag is only an annotation: what it tags, under the tag's id.
          out = header('', KIND.CONST, 0, 0, emit({ btf: r.btf, id: t.sizeOrType }));
          break;
        case KIND.TYPEDEF: case KIND.VOLATILE: case KIND.CONST: case KIND.RESTRICT: {
          const p = pointee({ btf: r.btf, id: t.sizeOrType });
          // A typedef of a function type (`typedef int fn(void)`) is only ever behind a pointer: void.
          const to = p.id !== 0 && r.btf.record(p.id).kind === KIND.FUNC_PROTO ? 0 : emit({ btf: r.btf, id: t.sizeOrType });
          out = header(t.kind === KIND.TYPEDEF ? t.name : '', t.kind, 0, 0, to);
          break;
        }
        case KIND.FWD:
          out = header(t.name, KIND.FWD, t.kflag, 0, 0);
          break;
        default:
          throw new Error(`BTF kind ${t.kind} of ${t.name || `type ${r.id}`} is not one a program's types reach`);
      }
    }
    records[id - 1] = out;
    return id;
  };
  for (const r of start) emit(r);

  const types = Buffer.concat(records);
  const strs = Buffer.concat(strings);
  const hdr = Buffer.alloc(24);
  hdr.writeUInt16LE(0xeb9f, 0);
  hdr.writeUInt8(1, 2);
  hdr.writeUInt8(0, 3);
  hdr.writeUInt32LE(24, 4);
  hdr.writeUInt32LE(0, 8);
  hdr.writeUInt32LE(types.length, 12);
  hdr.writeUInt32LE(types.length, 16);
  hdr.writeUInt32LE(strs.length, 20);
  return { blob: Buffer.concat([hdr, types, strs]), missing, types: records.length };
}

const C_WORDS = new Set(['const', 'volatile', 'unsigned', 'signed', 'char', 'short', 'int', 'long', 'void', '_Bool', 'float', 'double', '__data_loc', '__rel_loc']);

/**
 * The types a program names: its casts' and its tracepoints' (from their format files, `field:TYPE
 * NAME;`), `struct task_struct` where it reads curtask; and the member names it follows with `->`.
 */
export function programTypes(text: string, formats: readonly string[]): { roots: TypeRoot[]; derefs: Set<string> } {
  const code = text.replace(/\/\*[\s\S]*?\*\//g, ' ').replace(/\/\/[^\n]*/g, '').replace(/"(?:[^"\\]|\\.)*"/g, '""');
  const roots = new Set<TypeRoot>();
  for (const m of code.matchAll(/\b(struct|union|enum)\s+(\w+)/g)) roots.add(`${m[1]} ${m[2]}`);
  if (/\bcurtask\b/.test(code)) roots.add('struct task_struct');
  for (const format of formats) {
    for (const line of format.split('\n')) {
      const f = /^\s*field:\s*(.+?);/.exec(line);
      if (!f) continue;
      // Types named anywhere in the field, array sizes included (`[sizeof(struct sockaddr_in6)]`).
      for (const m of f[1]!.matchAll(/\b(struct|union|enum)\s+(\w+)/g)) roots.add(`${m[1]} ${m[2]}`);
      // The declaration less its member name and array size: `const char * name[16]` → `const char *`.
      const decl = f[1]!.replace(/\[[^\]]*\]/g, '').replace(/\s*\w+\s*$/, '');
      for (const w of decl.replace(/\b(struct|union|enum)\s+\w+/g, '').match(/\b[A-Za-z_]\w*\b/g) ?? []) {
        if (!C_WORDS.has(w)) roots.add(w);
      }
    }
  }
  // bpftrace 0.17 retypes a tracepoint field by its size (adjust_integer_types: an 8-byte `int` is
  // s64, an `unsigned int` u64): those names are looked up in the BTF too.
  if (formats.length) for (const t of ['s8', 'u8', 's16', 'u16', 's32', 'u32', 's64', 'u64']) roots.add(t);
  // The members the program follows: each name after `->`, and each name right before one
  // (`a->b.c->d` follows c; `a->arr[1]->d` follows arr).
  const derefs = new Set([...code.matchAll(/->\s*(\w+)/g), ...code.matchAll(/(\w+)\s*(?:\[[^\]]*\]\s*)*->/g)].map((m) => m[1]!));
  return { roots: [...roots], derefs };
}

/** The tracepoints (`tracepoint:CAT:NAME`) a program attaches to. */
export function programTracepoints(text: string): { category: string; name: string }[] {
  const code = text.replace(/\/\*[\s\S]*?\*\//g, ' ').replace(/\/\/[^\n]*/g, '');
  return [...new Map([...code.matchAll(/(?:^|[\s,{}])(?:tracepoint|t):([\w*]+):([\w*]+)/g)].map((m) => [`${m[1]}:${m[2]}`, { category: m[1]!, name: m[2]! }])).values()];
}

/**
 * Whether a program has fentry (kfunc) probes: bpftrace takes their arguments' types from the
 * function's own BTF, so only the kernel's whole BTF will do.
 */
export function needsKernelBtf(text: string): boolean {
  const code = text.replace(/\/\*[\s\S]*?\*\//g, ' ').replace(/\/\/[^\n]*/g, '').replace(/"(?:[^"\\]|\\.)*"/g, '""');
  return /(?:^|[\s,{}])(?:kfunc|kretfunc|fentry|fexit|f|fr):/.test(code);
}
