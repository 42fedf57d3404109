/**
 * Struct layouts from a module's BTF (/sys/kernel/btf/MODULE, split on the kernel's own BTF: 5.11+,
 * CONFIG_DEBUG_INFO_BTF_MODULES). bpftrace 0.17 does not consult module BTF from a BEGIN probe, so
 * a program that names such a struct (nf_tables' struct nft_chain where nf_tables is a module, as on
 * Debian's, Ubuntu's and Fedora's kernels) reads it at the offsets laid out here, through
 * programs/adapt.ts lowerStructAccesses. Structs the kernel's own BTF has stay typed.
 */
import { Btf } from '../parsers/btf.js';
import type { StructLayout } from '../parsers/struct-layout.js';
import { rawRead } from '../programs/adapt.js';
import type { Target } from '../targets/target.js';

const VMLINUX = '/sys/kernel/btf/vmlinux';

/**
 * The kernel's BTF, parsed once per target (5.5 MB, base64 over ssh or the VM's agent): the base
 * every module's BTF is read against, and kernel/bpf-shape.ts's layouts. null when there is none
 * to read, the Error when it does not parse.
 */
const bases = new WeakMap<Target, Promise<Btf | Error | null>>();

export function kernelBtf(target: Target): Promise<Btf | Error | null> {
  let p = bases.get(target);
  if (!p) {
    p = (async () => {
      const blob = (target.kernelBtf ? await target.kernelBtf() : null) ?? (await target.readFileBuffer(VMLINUX));
      if (!blob) return null;
      try {
        return Btf.parse(blob);
      } catch (e) {
        return e as Error;
      }
    })();
    // A read that failed is asked again next time (and fails again, said each time).
    p.catch(() => bases.delete(target));
    bases.set(target, p);
  }
  return p;
}

export interface ModuleLayouts {
  /** The wanted structs found in a module's BTF, laid out there. */
  layouts: StructLayout[];
  /** Those in no BTF at all: neither the kernel's nor one of the modules'. */
  missing: string[];
}

/**
 * For each wanted struct (name → member designators) that the kernel's BTF lacks, its layout from
 * the first of `modules` whose BTF has it. A module without BTF is skipped; a BTF that does not
 * parse, or a member that cannot be read raw (rawRead: an array other than char[N], a signed
 * bitfield, a float), is a reason.
 */
export function moduleLayouts(target: Target, modules: readonly string[], wanted: ReadonlyMap<string, readonly string[]>): Promise<ModuleLayouts | { why: string }> {
  // Asked at every listing (HookServer.current()); a module's BTF is its build's, so the answer
  // holds while the same modules are loaded: one that loads since changes the key.
  const key = JSON.stringify([modules, [...wanted]]);
  let byKey = answers.get(target);
  if (!byKey) answers.set(target, (byKey = new Map()));
  let p = byKey.get(key);
  if (!p) {
    p = layoutsNow(target, modules, wanted);
    const m = byKey;
    p.catch(() => m.delete(key));
    m.set(key, p);
  }
  return p;
}

const answers = new WeakMap<Target, Map<string, Promise<ModuleLayouts | { why: string }>>>();

async function layoutsNow(target: Target, modules: readonly string[], wanted: ReadonlyMap<string, readonly string[]>): Promise<ModuleLayouts | { why: string }> {
  const base = await kernelBtf(target);
  if (!base) return { why: `no ${VMLINUX} to read module BTF against` };
  if (base instanceof Error) return { why: `${VMLINUX} could not be read: ${base.message}` };
  const need = [...wanted].filter(([name]) => base.structId(name) === null);
  if (need.length === 0) return { layouts: [], missing: [] };
  const parsed = await modulesBtf(target, base, modules);
  if ('why' in parsed) return parsed;
  const layouts: StructLayout[] = [];
  const missing: string[] = [];
  for (const [name, members] of need) {
    const home = parsed.find((p) => p.btf.structId(name) !== null);
    if (!home) {
      missing.push(name);
      continue;
    }
    try {
      const layout = home.btf.layout(name, [...members]);
      const odd = layout.members.find((m) => rawRead(m, '0') === null);
      if (odd) throw new Error(`${odd.name} is a ${odd.type} of ${odd.size} bytes, not read raw`);
      layouts.push(layout);
    } catch (e) {
      return { why: `${home.path}: ${(e as Error).message}` };
    }
  }
  return { layouts, missing };
}

/** Module BTFs read per target: a module's BTF is its build's, and the modules stay loaded. */
const moduleBtfs = new WeakMap<Target, Map<string, Promise<Btf | null>>>();

/** A module's BTF split on the kernel's, read once per target; null while the module has none (not loaded). */
export function moduleBtf(target: Target, base: Btf, name: string): Promise<Btf | null> {
  let byName = moduleBtfs.get(target);
  if (!byName) moduleBtfs.set(target, (byName = new Map()));
  let p = byName.get(name);
  if (!p) {
    const path = `/sys/kernel/btf/${name}`;
    p = target.readFileBuffer(path).then((blob) => (blob ? Btf.parse(blob, base, path) : null));
    // Absent now (the module not loaded yet) is asked again next time.
    const m = byName;
    p.then((b) => { if (!b) m.delete(name); }, () => m.delete(name));
    byName.set(name, p);
  }
  return p;
}

/** The BTF of each of `modules` that has one, split on the kernel's; a BTF that does not parse is a reason. */
async function modulesBtf(target: Target, base: Btf, modules: readonly string[]): Promise<{ path: string; btf: Btf }[] | { why: string }> {
  const parsed: { path: string; btf: Btf }[] = [];
  for (const m of modules) {
    if (!/^\w+$/.test(m)) continue;
    const path = `/sys/kernel/btf/${m}`;
    try {
      const btf = await moduleBtf(target, base, m);
      if (btf) parsed.push({ path, btf });
    } catch (e) {
      return { why: `${path} could not be read: ${(e as Error).message}` };
    }
  }
  return parsed;
}

/**
 * The byte offset of a member (any type: a struct embedded in another, for container_of) in
 * `struct NAME`, from the kernel's BTF or else the first of `modules` whose BTF has the struct.
 */
export async function memberOffset(target: Target, modules: readonly string[], struct: string, designator: string): Promise<{ offset: number } | { why: string }> {
  const base = await kernelBtf(target);
  if (!base) return { why: `no ${VMLINUX} to read struct ${struct} from` };
  if (base instanceof Error) return { why: `${VMLINUX} could not be read: ${base.message}` };
  let home: { path: string; btf: Btf } | undefined = base.structId(struct) !== null ? { path: VMLINUX, btf: base } : undefined;
  if (!home) {
    const parsed = await modulesBtf(target, base, modules);
    if ('why' in parsed) return parsed;
    home = parsed.find((p) => p.btf.structId(struct) !== null);
  }
  if (!home) return { why: `struct ${struct} is in none of this kernel's BTF (vmlinux, ${modules.join(', ')})` };
  try {
    return { offset: home.btf.layout(struct, [designator]).members[0]!.offset };
  } catch (e) {
    return { why: `${home.path}: ${(e as Error).message}` };
  }
}
