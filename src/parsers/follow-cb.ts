/**
 * bpf/follow_cb.bt's printf records → callback calls and returns. Pure.
 *   H <nsecs> <skb> <what> <ret> <n> <stop> <chg> <ct> <in0..3> <out0..3> <ports> <outports> <x0..3> <xports> <entries> 8 × <callback>
 *     one record per hook pass (the current script), expanded here into the C and R records below;
 *   C <nsecs> <skb> <pf> <hooknum> <callback> <src> <dst> <sport> <dport>
 *   R <nsecs> <skb> <callback> <verdict> <ctinfo> <status> <src> <dst> <sport> <dport>
 *     one per callback call and return (the script before 2026-12-01; captured runs still hold them).
 */
import { ParseError } from '../lib/errors.js';

/** A hook entry follow_cb.bt named but did not probe (not traceable, or registered while following). */
export interface Unprobed {
  callback: string;
  /** 'ran, accepted': a probed callback after it began, or the hook ended in ACCEPT; 'not known' otherwise. */
  seen: 'ran, accepted' | 'not known';
}

export interface CbCall {
  kind: 'C'; nsecs: number; skb: string; pf: number; hooknum: number; callback: string;
  /** On a hook's first call: the entries the record named whose callbacks were not probed, in order. */
  unprobed?: Unprobed[];
  /** The IP protocol number, where the record says it (H records; not C records). */
  proto?: number;
  /** The tuple when the callback was called (null from an older capture that printed - -). */
  tuple: { src: string; dst: string; sport: number; dport: number } | null;
  sport: number; dport: number;
}
export interface CbReturn {
  kind: 'R'; nsecs: number; skb: string; callback: string; verdict: number;
  /** 0-4, 7 untracked, 8 no entry, 9 unknown (the skb may be gone after a non-ACCEPT). */
  ctinfo: number; status: number;
  /** The view is the whole hook's, read when it ended (H records: on its last callback's return). */
  afterHook?: boolean;
  tuple: { src: string; dst: string; sport: number; dport: number } | null;
}
export type CbRecord = CbCall | CbReturn;

/**
 * Paths mode's record after an H record (programs/follow_cb.ts pathsKeptInKernel): the pass's
 * signature and its parent's, the pass before it of the same skb (0: none, the packet began here;
 * 1: not known, a hook that does not begin a packet with no pass before it kept), when the parent's
 * hook began, and when this one did (its H record's nsecs: the pair is told by skb and time).
 */
export interface CbPathMark { kind: 'S'; skb: string; sig: string; parent: string; parentNsecs: number; nsecs: number }
const S = /^S ([0-9a-f]+) ([0-9a-f]+) ([0-9a-f]+) (\d+) (\d+)$/;

export function parsePathMark(line: string): CbPathMark | null {
  const m = S.exec(line.trim());
  return m ? { kind: 'S', skb: m[1]!, sig: m[2]!, parent: m[3]!, parentNsecs: Number(m[4]), nsecs: Number(m[5]) } : null;
}

type Tuple = NonNullable<CbCall['tuple']>;

const C = /^C (\d+) ([0-9a-f]+) (\d+) (\d+) (\S+) (\S+) (\S+) (\d+) (\d+)$/;
const R = /^R (\d+) ([0-9a-f]+) (\S+) (\d+) (\d+) (\d+) (\S+) (\S+) (\d+) (\d+)$/;

/** Callbacks a hook record names (bpf/follow_cb.bt): past them they are counted, not named. */
export const HOOK_SLOTS = 8;
const HEX = '[0-9a-f]+';
// H nsecs skb what ret n stop chg ct in0-3 out0-3 ports outports x0-3 xports entries, then the callbacks
const H = new RegExp(`^H (\\d+) (${HEX}) (${HEX}) (-?\\d+) (\\d+) (\\d+) (${HEX}) (${HEX}) ${Array(15).fill(`(${HEX})`).join(' ')} (\\d+)((?: \\S+){${HOOK_SLOTS}})$`);

/** An IPv4 address from the u32 a little-endian load of its bytes gives. */
function ip4(v: bigint): string {
  return [0n, 8n, 16n, 24n].map((s) => String((v >> s) & 0xffn)).join('.');
}

/** An IPv6 address from the two little-endian u64 loads of its 16 bytes (compressed as inet_ntop does). */
function ip6(lo: bigint, hi: bigint): string {
  const bytes = [lo, hi].flatMap((w) => [0n, 8n, 16n, 24n, 32n, 40n, 48n, 56n].map((s) => Number((w >> s) & 0xffn)));
  const groups = Array.from({ length: 8 }, (_, i) => (bytes[2 * i]! << 8) | bytes[2 * i + 1]!);
  // The longest run of two or more zero groups becomes "::" (RFC 5952).
  let best = -1, len = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > len && j - i >= 2) { best = i; len = j - i; }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + len).join(':')}`;
}

function tupleOf(ver: number, w: bigint[], ports: bigint): Tuple {
  const sport = Number((ports >> 16n) & 0xffffn), dport = Number(ports & 0xffffn);
  if (ver === 4) return { src: ip4(w[0]! & 0xffffffffn), dst: ip4(w[0]! >> 32n), sport, dport };
  return { src: ip6(w[0]!, w[1]!), dst: ip6(w[2]!, w[3]!), sport, dport };
}

/**
 * One hook record → the calls and returns it stands for, in order; `lost` is the number of
 * callbacks that returned past the named ones. What the record does not say stays unsaid:
 * conntrack's view is the hook's (after its last callback, on that callback's return only),
 * a tuple after a second rewrite in one hook is known only when it is the hook's exit tuple,
 * and a hook that ended without a recorded verdict leaves its last callback's return unseen.
 */
export function expandHookRecord(m: RegExpExecArray, probed: ReadonlySet<string> | null = null): { records: CbRecord[]; lost: number } {
  const nsecs = Number(m[1]), skb = m[2]!, what = Number.parseInt(m[3]!, 16), ret = Number(m[4]), n = Number(m[5]), stop = Number(m[6]);
  const chg = BigInt(`0x${m[7]}`), ct = Number.parseInt(m[8]!, 16);
  // what: hooknum | pf << 8 | IP protocol << 16 | start index << 24
  const hooknum = what & 0xff, pf = (what >> 8) & 0xff, proto = (what >> 16) & 0xff, startIdx = (what >> 24) & 0xff;
  const ver = pf === 10 ? 6 : 4;
  const w = m.slice(9, 24).map((x) => BigInt(`0x${x}`));
  const entry = tupleOf(ver, w.slice(0, 4), w[8]!);
  const exit = ret === 1 ? tupleOf(ver, w.slice(4, 8), w[9]!) : null;
  const firstRewrite = chg !== 0n ? tupleOf(ver, w.slice(10, 14), w[14]!) : null;
  const lastChange = chg === 0n ? -1 : chg.toString(2).length - 1;
  const names = m[25]!.trim().split(' ');
  // The hook's entries from the start index on, as far as the record names them (past them the
  // words are whatever memory follows, and are not read).
  const valid = names.slice(0, Math.max(0, Math.min(HOOK_SLOTS, Number(m[24]) - startIdx)));
  // n counts the probed callbacks that began: where the record names an entry that was not probed,
  // the i-th call is the i-th probed entry, not the i-th entry.
  const unprobedAt = probed ? valid.map((c, i) => (probed.has(c) ? -1 : i)).filter((i) => i >= 0) : [];
  const slots = unprobedAt.length ? valid.map((c, i) => ({ c, i })).filter((x) => probed!.has(x.c)) : names.map((c, i) => ({ c, i }));
  const records: CbRecord[] = [];
  let before: Tuple | null = entry;
  let changes = 0;
  const shown = Math.min(n, slots.length, HOOK_SLOTS);
  // The entry after the last probed one that began: an unprobed one there may be the one that ended the hook.
  const lastBegan = shown ? slots[shown - 1]!.i : -1;
  const enderUnknown = unprobedAt.length > 0 && ret !== 1 && unprobedAt.includes(lastBegan + 1);
  for (let k = 0; k < shown; k++) {
    const callback = slots[k]!.c;
    const call: CbCall = { kind: 'C', nsecs, skb, pf, hooknum, callback, proto, tuple: before, sport: before?.sport ?? 0, dport: before?.dport ?? 0 };
    if (k === 0 && unprobedAt.length) {
      call.unprobed = unprobedAt.map((i) => ({ callback: valid[i]!, seen: ret === 1 || i < lastBegan ? 'ran, accepted' as const : 'not known' as const }));
    }
    records.push(call);
    const last = k === n - 1;
    if (last && ret !== 1 && (stop === 255 || enderUnknown)) continue; // its verdict was not recorded: no return seen
    const verdict = last && ret !== 1 ? stop : 1;
    let after: Tuple | null = before;
    // chg's bits count callbacks that began (probed ones), as the slots do.
    if ((chg >> BigInt(k)) & 1n) {
      changes++;
      after = changes === 1 ? firstRewrite : k === lastChange && exit ? exit : null;
    }
    const view = last && ret === 1 && ct !== 9;
    records.push({
      kind: 'R', nsecs, skb, callback, verdict, ctinfo: view ? ct & 0xff : 9, status: view ? ct >> 8 : 0,
      tuple: verdict === 1 ? after : null, ...(view ? { afterHook: true } : {}),
    });
    before = after;
  }
  return { records, lost: Math.max(0, n - Math.min(slots.length, HOOK_SLOTS)) };
}

/** One H record's skb and what it stands for; null when the line is not an H record. */
export function parseHookLine(line: string, probed: ReadonlySet<string> | null = null): { skb: string; nsecs: number; records: CbRecord[]; lost: number } | null {
  const m = H.exec(line.trim());
  return m ? { skb: m[2]!, nsecs: Number(m[1]), ...expandHookRecord(m, probed) } : null;
}

/** The records of some lines; `lost` counts callbacks that returned past a hook record's named ones. */
export function parseFollowCbLost(lines: string[], probed: ReadonlySet<string> | null = null): { records: CbRecord[]; lost: number } {
  const out: CbRecord[] = [];
  let lost = 0;
  lines.forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line === 'READY') return;
    let m = H.exec(line);
    if (m) {
      const x = expandHookRecord(m, probed);
      out.push(...x.records);
      lost += x.lost;
      return;
    }
    m = C.exec(line);
    if (m) {
      out.push({
        kind: 'C', nsecs: Number(m[1]), skb: m[2]!, pf: Number(m[3]), hooknum: Number(m[4]), callback: m[5]!, sport: Number(m[8]), dport: Number(m[9]),
        tuple: m[6] === '-' ? null : { src: m[6]!, dst: m[7]!, sport: Number(m[8]), dport: Number(m[9]) },
      });
      return;
    }
    m = R.exec(line);
    if (m) {
      out.push({
        kind: 'R', nsecs: Number(m[1]), skb: m[2]!, callback: m[3]!, verdict: Number(m[4]), ctinfo: Number(m[5]), status: Number(m[6]),
        tuple: m[7] === '-' ? null : { src: m[7]!, dst: m[8]!, sport: Number(m[9]), dport: Number(m[10]) },
      });
      return;
    }
    throw new ParseError('follow_cb.bt output', i + 1, raw, 'expected an H, C or R record');
  });
  return { records: out, lost };
}

export function parseFollowCb(lines: string[]): CbRecord[] {
  return parseFollowCbLost(lines).records;
}
