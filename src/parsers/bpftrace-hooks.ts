import { ParseError } from '../lib/errors.js';
import { FAMILIES, HOOK_NAMES, nftFamily, type Family, type HookEntry, type HookList } from '../model/hooks.js';
import { classify } from '../model/owners.js';

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
        h.entries.push(classify(f[4]!, Number(f[3])));
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
