import { ParseError } from '../lib/errors.js';
import { BPF_RUN_FN, FAMILIES, runsChain, runsFlowtable, xtFamily, HOOK_NAMES, NAT_CHAIN_FN, nftFamily, type Family, type HookEntry, type HookList } from '../model/hooks.js';
import { baseSymbol, classify } from '../model/owners.js';

/** What bpf/nf_hooks.bt reports: see the header of that file for the records. */
export interface BpftraceHooks {
  netnsInode: number;
  hooks: HookList[];
  warnings: string[];
}

/** Slot numbers of nf_hooks.bt: 0-4 ipv4, 5-9 ipv6, 10-12 arp, 13-17 bridge. */
const SLOTS: [Family, string][] = (['ipv4', 'ipv6', 'arp', 'bridge'] as const).flatMap((f) =>
  HOOK_NAMES[f].map((h): [Family, string] => [f, h]),
);

/** Family bits of nf_hooks.bt's $1. */
export function familyMask(families: readonly Family[]): number {
  return families.reduce((m, f) => m | (1 << FAMILIES.indexOf(f)), 0);
}

const INT = /^-?\d+$/;
const WORD = /^[0-9a-f]{1,16}$/;
/** The bytes of a name the C record carries: 4 u64 words. */
const WORD_BYTES = 32;

/**
 * A name from the C record's words: the u64 values as the kernel's memory held them, so in the
 * target's byte order (little-endian: x86_64, arm64), up to the first NUL. `cut` when the 32
 * bytes hold no NUL (a longer name: nft allows 255). Garbage past the NUL is ignored.
 */
export function wordsName(words: string[]): { name: string; cut: boolean } {
  const buf = Buffer.alloc(words.length * 8);
  words.forEach((w, i) => buf.writeBigUInt64LE(BigInt(`0x${w}`), i * 8));
  const nul = buf.indexOf(0);
  return { name: buf.subarray(0, nul < 0 ? buf.length : nul).toString('utf8'), cut: nul < 0 };
}

export function parseBpftraceHooks(lines: string[]): BpftraceHooks {
  let netnsInode = -1;
  const hooks: HookList[] = [];
  const warnings: string[] = [];
  let current: (HookList & { expected: number }) | null = null;
  const devs = new Map<string, HookList>();
  /** Entries by position (slot x 64 + index), for the T and n records that name them after the walk. */
  const bySlot = new Map<number, HookList>();
  const entryAt = (where: number): HookEntry | undefined => bySlot.get(Math.floor(where / 64))?.entries[where % 64];
  let named: HookEntry | null = null;
  /** An entry's chain from the raw words of its table's and its own name. */
  const nameChain = (e: HookEntry, nfproto: number, tableWords: string[], chainWords: string[]) => {
    const table = wordsName(tableWords);
    const chain = wordsName(chainWords);
    if (!table.name || !chain.name) {
      warnings.push(`${e.callback} at priority ${e.priority}: its chain's names could not be read`);
      return;
    }
    e.chain = { family: nftFamily(nfproto), table: table.cut ? `${table.name}…` : table.name, chain: chain.cut ? `${chain.name}…` : chain.name };
    if (table.cut || chain.cut) warnings.push(`chain ${e.chain.family} ${e.chain.table} ${e.chain.chain}: a name of ${WORD_BYTES} bytes or more, shown cut where the listing's read of it ends (…)`);
  };
  /** The netdev entry the last D record listed: a c record right after it names its chain. */
  let lastDev: HookEntry | null = null;

  const close = () => {
    if (current && current.entries.length !== current.expected) {
      current.truncated = { listed: current.entries.length, total: current.expected };
      warnings.push(
        `${current.family} ${current.hook}: ${current.expected} entries, ${current.entries.length} listed (bpftrace loop bound)`,
      );
    }
    const { expected: _e, ...h } = current ?? { expected: 0 };
    if (current) hooks.push(h as HookList);
    current = null;
  };

  lines.forEach((line, i) => {
    const n = i + 1;
    const f = line.split(' ');
    const bad = (why: string) => new ParseError('nf_hooks.bt output', n, line, why);
    switch (f[0]) {
      case 'N':
        if (f.length !== 2 || !INT.test(f[1]!)) throw bad('expected "N <inode>"');
        netnsInode = Number(f[1]);
        break;
      case 'S': {
        if (f.length !== 3 || !INT.test(f[1]!) || !INT.test(f[2]!)) throw bad('expected "S <slot> <count>"');
        close();
        const slot = SLOTS[Number(f[1])];
        if (!slot) throw bad('hook slot out of range');
        current = { family: slot[0], hook: slot[1], entries: [], expected: Number(f[2]) };
        bySlot.set(Number(f[1]), current);
        break;
      }
      case 'E':
        if (f.length !== 3 || !INT.test(f[1]!) || !f[2]) throw bad('expected "E <priority> <symbol>"');
        if (!current) throw bad('entry before any hook slot');
        current.entries.push(classify(f[2], Number(f[1])));
        break;
      case 'n': {
        // n <where> <priority> <symbol>: a NAT chain behind nf_nat's entry <where> (slot x 64 + index).
        if (f.length !== 4 || !INT.test(f[1]!) || !INT.test(f[2]!) || !f[3]) throw bad('expected "n <where> <priority> <symbol>"');
        const parent = entryAt(Number(f[1]));
        if (!parent) throw bad('nested entry of an entry not listed');
        (parent.nested ??= []).push(classify(f[3], Number(f[2])));
        break;
      }
      case 'T': {
        // T <where> <sub> <nfproto> <table>, then U <chain>: names entry <where> (sub -1) or its nested entry <sub>.
        if (f.length < 5 || !INT.test(f[1]!) || !INT.test(f[2]!) || !INT.test(f[3]!)) throw bad('expected "T <where> <sub> <nfproto> <table>"');
        const parent = entryAt(Number(f[1]));
        const e = Number(f[2]) < 0 ? parent : parent?.nested?.[Number(f[2])];
        if (!e) throw bad('table name of an entry not listed');
        e.chain = { family: nftFamily(Number(f[3])), table: line.split(' ').slice(4).join(' '), chain: '' };
        named = e;
        break;
      }
      case 'C': {
        // C <where> <sub> <nfproto> <8 words>: entry <where> (sub -1) or its nested entry <sub> read as
        // an nf_tables chain. The kernel side prints it for every entry; it names only a chain's.
        if (f.length !== 12 || !INT.test(f[1]!) || !INT.test(f[2]!) || !INT.test(f[3]!) || !f.slice(4).every((w) => WORD.test(w))) {
          throw bad('expected "C <where> <sub> <nfproto> <8 hex words>"');
        }
        const parent = entryAt(Number(f[1]));
        const e = Number(f[2]) < 0 ? parent : parent?.nested?.[Number(f[2])];
        if (!e) throw bad('chain record of an entry not listed');
        if (Number(f[2]) < 0 ? !runsChain(e.callback) : e.callback !== NAT_CHAIN_FN) break;
        nameChain(e, Number(f[3]), f.slice(4, 8), f.slice(8, 12));
        break;
      }
      case 'X': {
        // X <where> <symbol> <af> <name>: entry <where> read as a struct xt_table (programs/nf_hooks.ts
        // xtNamesProgram). Printed for every entry; kept for a table walker whose table is of its family.
        if (f.length < 4 || !INT.test(f[1]!) || !f[2] || !INT.test(f[3]!)) throw bad('expected "X <where> <symbol> <af> <name>"');
        const e = entryAt(Number(f[1]));
        if (!e) throw bad('table record of an entry not listed');
        const af = xtFamily(baseSymbol(e.callback));
        if (af === undefined || baseSymbol(f[2]) !== baseSymbol(e.callback)) break;
        const name = f.slice(4).join(' ');
        if (Number(f[3]) !== af || !/^[a-z][a-z0-9_]{0,30}$/.test(name)) {
          warnings.push(`${e.callback} at priority ${e.priority}: its table could not be read (af ${f[3]}, name ${JSON.stringify(name.slice(0, 40))})`);
          break;
        }
        e.xtTable = name;
        break;
      }
      case 'P': {
        // P <where> <symbol> <id> <name>: entry <where>'s priv read as a struct bpf_prog (programs/
        // nf_hooks.ts bpfProgsProgram), for nf_hook_run_bpf entries only; the name may be empty.
        if (f.length < 4 || f.length > 5 || !INT.test(f[1]!) || !f[2] || !/^\d+$/.test(f[3]!)) throw bad('expected "P <where> <symbol> <id> <name>"');
        const e = entryAt(Number(f[1]));
        if (!e) throw bad('program record of an entry not listed');
        if (baseSymbol(f[2]) !== baseSymbol(e.callback) || baseSymbol(e.callback) !== BPF_RUN_FN) break;
        const id = Number(f[3]);
        const name = f[4] ?? '';
        // bpf_obj_name_cpy: letters, digits, '_' and '.', at most 15. An id is never 0 (idr_alloc_cyclic from 1).
        if (id === 0 || !/^[A-Za-z0-9_.]{0,15}$/.test(name)) {
          warnings.push(`${e.callback} at priority ${e.priority}: its program could not be read (id ${f[3]}, name ${JSON.stringify(name.slice(0, 40))})`);
          break;
        }
        e.bpfProg = { id, name };
        break;
      }
      case 'Z':
        // The end of the listing (nfscope stops waiting for bpftrace here).
        break;
      case 'U': {
        if (!named || named.chain!.chain !== '' || line.length < 3) throw bad('expected "U <chain>" right after "T"');
        named.chain!.chain = line.slice(2);
        named = null;
        break;
      }
      case 'D': {
        // D <ifindex> <dir> <priority> <symbol> <ifname>
        if (f.length !== 6 || !INT.test(f[1]!) || !/^[01]$/.test(f[2]!) || !INT.test(f[3]!)) {
          throw bad('expected "D <ifindex> <dir> <priority> <symbol> <ifname>"');
        }
        const hook = HOOK_NAMES.netdev[Number(f[2])]!;
        const key = `${f[5]}/${hook}`;
        let h = devs.get(key);
        if (!h) {
          h = { family: 'netdev', hook, device: f[5]!, entries: [] };
          devs.set(key, h);
        }
        lastDev = classify(f[4]!, Number(f[3]));
        h.entries.push(lastDev);
        break;
      }
      case 'c': {
        // c <nfproto> <8 words>: the netdev entry of the D record just before, read as a chain.
        if (f.length !== 10 || !INT.test(f[1]!) || !f.slice(2).every((w) => WORD.test(w))) throw bad('expected "c <nfproto> <8 hex words>"');
        const e = lastDev;
        lastDev = null;
        if (!e) throw bad('chain record of no netdev entry (c must follow D)');
        if (!runsChain(e.callback)) break;
        nameChain(e, Number(f[1]), f.slice(2, 6), f.slice(6, 10));
        break;
      }
      case 'F': {
        // F <nfproto> <table> <name>: the netdev entry of the D record just before, a flowtable's hook
        // (programs/nf_hooks.ts flowtablesProgram, printed for those only).
        const e = lastDev;
        lastDev = null;
        if (f.length !== 4 || !INT.test(f[1]!)) throw bad('expected "F <nfproto> <table> <name>"');
        if (!e) throw bad('flowtable record of no netdev entry (F must follow D)');
        if (!runsFlowtable(baseSymbol(e.callback))) break;
        // nft's identifiers ([a-zA-Z_.][a-zA-Z0-9/\\_.]*); a quoted name with a space would split the record.
        const ok = (n: string) => /^[A-Za-z0-9_./\\-]{1,64}$/.test(n);
        if (!ok(f[2]!) || !ok(f[3]!) || Number(f[1]) === 0) {
          warnings.push(`${e.callback} at priority ${e.priority}: its flowtable could not be read (nfproto ${f[1]}, ${JSON.stringify(f.slice(2).join(' ').slice(0, 80))})`);
          break;
        }
        // bpftrace 0.17's str() keeps 63 characters (BPFTRACE_STRLEN 64); nft allows 255: one that
        // long may be cut, and is shown so.
        const whole = (n: string) => (n.length >= 63 ? `${n}…` : n);
        if (f[2]!.length >= 63 || f[3]!.length >= 63) warnings.push(`${e.callback} at priority ${e.priority}: its flowtable's names are read up to 63 characters: ${whole(f[2]!)} ${whole(f[3]!)} may be cut`);
        e.flowtable = { family: nftFamily(Number(f[1])), table: whole(f[2]!), name: whole(f[3]!) };
        break;
      }
      case 'W':
        warnings.push(line.slice(2));
        break;
      default:
        throw bad('unknown record');
    }
  });
  close();
  for (const e of hooks.flatMap((h) => h.entries.flatMap((x) => [x, ...(x.nested ?? [])]))) {
    if (e.chain?.chain === '') throw new ParseError('nf_hooks.bt output', lines.length, `T … ${e.chain.table}`, 'a table name without its "U <chain>" line');
  }
  if (netnsInode < 0) throw new ParseError('nf_hooks.bt output', lines.length, lines.at(-1) ?? '', 'no "N" record: the script did not run to its end');
  const netdev = [...devs.values()].sort(
    (a, b) => a.device!.localeCompare(b.device!) || HOOK_NAMES.netdev.indexOf(a.hook) - HOOK_NAMES.netdev.indexOf(b.hook),
  );
  return { netnsInode, hooks: [...hooks, ...netdev], warnings };
}

/** Which entries a second walk reads (programs/nf_hooks.ts), and the field it fills. */
export const SECOND_WALKS = {
  xt: { what: 'its table', reads: (callback: string) => xtFamily(baseSymbol(callback)) !== undefined, field: 'xtTable', whose: " (the nat table's)", walk: 'the x_tables walk' },
  bpf: { what: 'its program', reads: (callback: string) => baseSymbol(callback) === BPF_RUN_FN, field: 'bpfProg', whose: '', walk: 'the BPF walk' },
  ft: { what: 'its flowtable', reads: (callback: string) => runsFlowtable(baseSymbol(callback)), field: 'flowtable', whose: '', walk: 'the flowtable walk' },
} as const;

/**
 * What a second walk read (the x_tables tables, the BPF programs) given to the first listing's
 * entries: by family, hook and place, where the callback and priority are the same in both. An
 * entry that moved between the two walks (a table loaded or removed meanwhile) is left unnamed and
 * said.
 */
export function applySecondWalk(kind: keyof typeof SECOND_WALKS, first: HookList[], second: HookList[]): string[] {
  const { what, reads, field, whose } = SECOND_WALKS[kind];
  const warnings: string[] = [];
  for (const l of first) {
    const other = second.find((x) => x.family === l.family && x.hook === l.hook && x.device === l.device);
    l.entries.forEach((e, i) => {
      // iptable_nat's walker runs behind nf_nat's entry (5.12+), where the x_tables walk does not look.
      for (const n of e.nested ?? []) {
        if (reads(n.callback)) warnings.push(`${l.family} ${l.hook}: ${n.callback} behind ${e.callback}${whose}: ${what} is not read there`);
      }
      if (!reads(e.callback)) return;
      const o = other?.entries[i];
      if (o && o.callback === e.callback && o.priority === e.priority) {
        if (o[field] !== undefined) Object.assign(e, { [field]: o[field] });
      } else warnings.push(`${l.family} ${l.hook}: ${e.callback} at priority ${e.priority} changed place between the listing and the read of ${what}: not named`);
    });
  }
  return warnings;
}
