/**
 * BPFTRACE_BTF for one program: a file of just the types it names (programs/btf-subset.ts), on
 * the target, so that bpftrace 0.17's by-name lookups scan a few hundred types, not the kernel's
 * ~110k (0.2 s a cast under qemu TCG: ct_syn.bt's start went from 14-15 s to 2.7 s on 6.1).
 *
 * It only changes how fast bpftrace compiles, never what it reads: struct offsets come from the
 * same BTF, and where a subset cannot be made (no kernel BTF to read, a type in no BTF nfscope
 * reads, a tracepoint format that cannot be read) bpftrace runs as before, on the kernel's own BTF.
 * On this machine the files are kept for the boot in the probe cache (lib/boot-cache.ts cachedFile:
 * root's, private, temp-and-rename), named by their key. Elsewhere, or with the cache off, they live
 * in a private directory under /run/nfscope, made once per run and removed at its end (journaled,
 * so that `nfscope cleanup` removes it after a killed run).
 */
import { createHash } from 'node:crypto';
import type { Cleanup } from '../lib/cleanup.js';
import { run } from '../lib/run.js';
import { CommandFailedError } from '../lib/errors.js';
import { runRandomBytes } from '../lib/run-random.js';
import { btfSubset, needsKernelBtf, programTracepoints, programTypes } from '../programs/btf-subset.js';
import type { Target } from '../targets/target.js';
import { kernelBtf, moduleBtf } from './module-btf.js';
import { bootKey, fileKey } from './boot-key.js';
import { cachedFile } from '../lib/boot-cache.js';
import { LocalTarget } from '../targets/local.js';
import { fileURLToPath } from 'node:url';

/**
 * The modules whose structs nfscope's programs name where they are modules (Debian's kernels):
 * struct nf_conn (nf_conntrack), the chain code's (nf_tables), struct xt_table (x_tables).
 */
const MODULE_HOMES = ['nf_conntrack', 'nf_tables', 'x_tables'];

/** The env assignment that points bpftrace at `program`'s types, or why there is none. */
export type BtfEnv = { env: string } | { why: string };

/**
 * The BTF files of one run: on this machine kept for the boot in the probe cache; elsewhere in a
 * private directory of the run's on the target, made when first needed and removed at its end.
 */
export class BtfFiles {
  private dir: Promise<string> | null = null;
  private readonly written = new Map<string, Promise<string>>();

  /** `tracefs`: where tracepoint formats are read; null: a program with tracepoints gets no subset. */
  constructor(private readonly target: Target, private readonly cleanup: Cleanup, private readonly tracefs: string | null) {}

  /**
   * The assignment for bpftrace's env ([] where no subset can be made: bpftrace then reads the
   * kernel's own BTF, slower and the same; NFSCOPE_DEBUG says why).
   */
  async env(text: string): Promise<string[]> {
    const b = await this.envFor(text);
    if ('why' in b && process.env.NFSCOPE_DEBUG) process.stderr.write(`nfscope-debug: bpftrace on the kernel's own BTF: ${b.why}\n`);
    return 'env' in b ? [b.env] : [];
  }

  /**
   * BPFTRACE_BTF=FILE for a program's text. On this machine the file is kept for the boot in the
   * probe cache, under a name made of its key: the same path from run to run, so that the hooks
   * prestart (src/prestart.ts), which adopts only an identical argv, still matches. Elsewhere (or
   * with the cache off) it is written once per distinct subset into the run's own directory.
   */
  async envFor(text: string): Promise<BtfEnv> {
    const types = await typesOf(this.target, this.tracefs, text);
    if ('why' in types) return types;
    const set = JSON.stringify([[...types.roots].sort(), [...types.derefs].sort()]);
    if (this.target instanceof LocalTarget) {
      const key = await bootKey(this.target, () => [`btf-subset ${set}`, ...SUBSET_CODE.map((u) => fileKey(fileURLToPath(u)))]);
      const kept = key ? await cachedFile(`btf-${key.slice(0, 32)}.btf`, async () => {
        const r = await subsetOf(this.target, set, types);
        return 'blob' in r ? r.blob : null;
      }) : null;
      if (kept) return { env: `BPFTRACE_BTF=${kept}` };
    }
    const made = await subsetOf(this.target, set, types);
    if ('why' in made) return made;
    const hash = createHash('sha256').update(made.blob).digest('hex').slice(0, 16);
    let p = this.written.get(hash);
    if (!p) {
      p = this.write(`${hash}.btf`, made.blob);
      this.written.set(hash, p);
    }
    try {
      return { env: `BPFTRACE_BTF=${await p}` };
    } catch (e) {
      // The file could not be written (no base64, /run read-only): bpftrace reads the kernel's own
      // BTF instead, which changes only its start's time; the next program tries again.
      this.written.delete(hash);
      if (!(e instanceof CommandFailedError)) throw e;
      return { why: `the subset file could not be written: ${e.message.split('\n')[0]}` };
    }
  }

  private async write(name: string, blob: Buffer): Promise<string> {
    const made = (this.dir ??= this.makeDir());
    // A directory that could not be made is not asked for again by later programs of the run.
    made.catch(() => { if (this.dir === made) this.dir = null; });
    const dir = await made;
    const path = `${dir}/${name}`;
    // Written beside, then renamed: bpftrace never reads half a file. A fixed script; the path is
    // nfscope's own (its run's directory and a hash), passed as a positional parameter.
    await run(this.target, ['sh', '-c', 'umask 077 && base64 -d > "$1.tmp" && mv -f -- "$1.tmp" "$1"', 'sh', path], { input: blob.toString('base64') });
    return path;
  }

  private async makeDir(): Promise<string> {
    // pid and a random part (the run's source: a replay draws it back, and puts the recorded pid back).
    const dir = `/run/nfscope/btf-${process.pid}-${runRandomBytes(6).toString('hex')}`;
    await run(this.target, ['mkdir', '-p', '-m', '755', '/run/nfscope']);
    // `rm -rf DIR`, the shape `nfscope cleanup` replays (lib/undo-allowlist.ts); the name is nfscope's own.
    const undo = this.cleanup.undoWith(`remove ${dir}`, this.target, [{ argv: ['rm', '-rf', dir] }]);
    // mkdir without -p: a directory already there (not nfscope's making) is an error, never reused,
    // and never removed: its undo is taken back. mkdir(2) makes the directory or fails, and mode 700
    // needs no chmod after it: a mkdir that failed (in any words, any locale) made nothing. One that
    // timed out may have.
    try {
      await this.cleanup.making(`mkdir ${dir}`, () => run(this.target, ['mkdir', '-m', '700', '--', dir]));
    } catch (err) {
      if (err instanceof CommandFailedError && err.code !== null && !/\(timed out\)$/.test(err.stderr)) this.cleanup.withdraw(undo);
      throw err;
    }
    return dir;
  }
}

/** The types a program names, its tracepoints' formats read from the target; or why not. */
async function typesOf(target: Target, tracefs: string | null, text: string): Promise<{ roots: string[]; derefs: Set<string> } | { why: string }> {
  // fentry/kfunc probes take their arguments' types from the function's own BTF: the kernel's whole.
  if (needsKernelBtf(text)) return { why: 'fentry probes need the kernel\'s own BTF' };
  const formats: string[] = [];
  for (const tp of programTracepoints(text)) {
    if (tracefs === null) return { why: 'tracepoint formats not read here (no tracefs given)' };
    if (!/^\w+$/.test(tp.category) || !/^\w+$/.test(tp.name)) return { why: `tracepoint ${tp.category}:${tp.name}: a wildcard, whose formats are not read` };
    const f = await target.readFile(`${tracefs}/events/${tp.category}/${tp.name}/format`);
    if (f === null) return { why: `tracepoint ${tp.category}:${tp.name} has no format to read` };
    formats.push(f);
  }
  return programTypes(text, formats);
}

/** The subset of a type set, laid out once per target and set (the listing's two walks name the same types). */
function subsetOf(target: Target, set: string, types: { roots: string[]; derefs: Set<string> }): Promise<{ blob: Buffer } | { why: string }> {
  let bySet = subsets.get(target);
  if (!bySet) subsets.set(target, (bySet = new Map()));
  let p = bySet.get(set);
  if (!p) {
    const m = bySet;
    p = layOut(target, types.roots, types.derefs);
    bySet.set(set, p);
    // One that could not be made is tried again: a module loaded since may hold its types.
    void p.then((r) => { if ('why' in r) m.delete(set); }, () => m.delete(set));
  }
  return p;
}

const subsets = new WeakMap<Target, Map<string, Promise<{ blob: Buffer } | { why: string }>>>();

/** The modules whose code makes a subset (.ts under vitest): a change of theirs is a new key. */
const EXT = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
const SUBSET_CODE = [import.meta.url, new URL(`../parsers/btf${EXT}`, import.meta.url).href, new URL(`../programs/btf-subset${EXT}`, import.meta.url).href];

async function layOut(target: Target, roots: string[], derefs: Set<string>): Promise<{ blob: Buffer } | { why: string }> {
  const base = await kernelBtf(target);
  if (!base) return { why: 'no kernel BTF to take types from' };
  if (base instanceof Error) return { why: `the kernel BTF could not be read: ${base.message}` };
  try {
    let made = btfSubset([base], roots, derefs);
    if (made.missing.length) {
      const btfs = [base];
      for (const m of MODULE_HOMES) {
        // A module BTF that cannot be read only leaves its types missing: bpftrace then runs on the
        // kernel's own BTF, as without a subset (slower, never different).
        const b = await moduleBtf(target, base, m).catch(() => null);
        if (b) btfs.push(b);
      }
      made = btfSubset(btfs, roots, derefs);
      if (made.missing.length) return { why: `${made.missing.join(', ')}: in no BTF nfscope reads` };
    }
    return { blob: made.blob };
  } catch (e) {
    return { why: `the types could not be taken from the BTF: ${(e as Error).message}` };
  }
}
