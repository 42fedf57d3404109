/**
 * follow's callback view: bpf/follow_cb.bt's calls and returns grouped into
 * one pass per packet (by skb address), laid over the netns's hook listing so
 * each hook shows every registered callback in invocation order with the
 * verdict it returned. Pure.
 *
 * A new pass starts on an skb when the previous one ended (a verdict other
 * than ACCEPT: the skb was freed, stolen or queued), when the hook goes back
 * in the path (a reused skb), or after a second of silence. PRE_ROUTING after
 * POST_ROUTING is the same packet looping through `lo`.
 */
import { HOOK_NAMES, type Family, type HookList } from '../model/hooks.js';
import type { CallbackStep, ConntrackView, HookPass, NatChange } from '../model/follow.js';
import type { CbCall, CbPathMark, CbRecord, CbReturn } from '../parsers/follow-cb.js';
import { classify } from '../model/owners.js';

export const VERDICTS = ['DROP', 'ACCEPT', 'STOLEN', 'QUEUE', 'REPEAT'];
const CTINFO: Record<number, string> = { 0: 'ESTABLISHED', 1: 'RELATED', 2: 'NEW', 3: 'ESTABLISHED_REPLY', 4: 'RELATED_REPLY', 7: 'UNTRACKED', 8: 'INVALID (no entry)' };
/** IPS_* bits (include/uapi/linux/netfilter/nf_conntrack_common.h), the ones a reader asks about. */
const STATUS: [number, string][] = [[0, 'expected'], [1, 'seen-reply'], [2, 'assured'], [3, 'confirmed'], [4, 'src-nat'], [5, 'dst-nat'], [9, 'dying'], [12, 'untracked']];
const PF_FAMILY: Record<number, Family> = { 2: 'ipv4', 10: 'ipv6', 3: 'arp', 7: 'bridge', 5: 'netdev' };
/** Where a packet's path begins, per family: a pass on a reused skb restarts there. */
const ORDER: Record<string, number> = { PRE_ROUTING: 0, LOCAL_OUT: 0, LOCAL_IN: 1, FORWARD: 1, POST_ROUTING: 2 };

export interface PassCall {
  hook: string; call: CbCall; ret: CbReturn | null;
  /** Paths mode: a call of a pass the kernel counted, taken from the pass printed with its signature. */
  counted?: true;
}

export interface CbPass {
  skb: string;
  /** follow's receive time of the first call (seconds since ready). */
  t: number;
  family: Family;
  /** The packet as the first callback saw it (its first printed one, in paths mode). */
  tuple: CbCall['tuple'];
  calls: PassCall[];
  /** Paths mode: the signatures of its printed hook passes, in order. */
  sigs?: string[];
  /** Paths mode: the packet's hooks before its first printed one, counted by the kernel. */
  counted?: { parent: string; hooks: string[]; known: boolean };
  /** Paths mode: when its last printed hook began (the S record's), which a child's parent must match. */
  lastNsecs?: number;
}

/** A signature printed in paths mode: its parent, and the calls of the first pass printed with it. */
export interface BookEntry { parent: string; hook: string; calls: PassCall[]; printed: number }

/** Signatures kept (paths mode): past this a signature's passes are counted only. */
export const MAX_PATHS = 10_000;

export function verdictName(v: number): string {
  return VERDICTS[v] ?? `verdict ${v}`;
}

export function statusBits(status: number): string[] {
  return STATUS.filter(([b]) => status & (1 << b)).map(([, n]) => n);
}

/** Conntrack's view a return carries, in words ("NEW confirmed"); null when it carries none. */
export function ctWords(r: CbReturn): string | null {
  if (r.ctinfo === 9 || !r.afterHook) return null;
  return [CTINFO[r.ctinfo] ?? `ctinfo ${r.ctinfo}`, ...statusBits(r.status)].join(' ');
}

/**
 * Groups records into passes as they come (in the order bpftrace printed them): add() says
 * which pass a record went to, and whether it started that pass.
 */
export class PassBuilder {
  private readonly open = new Map<string, CbPass>();
  private readonly pending = new Map<string, { pass: CbPass; i: number }>();
  /** Paths mode: each skb's mark, for the H record's calls that follow it. */
  private readonly marks = new Map<string, CbPathMark>();
  /** Paths mode: every signature printed (the first MAX_PATHS), in the order first seen. */
  readonly book = new Map<string, BookEntry>();
  /** Signatures past MAX_PATHS: not kept. */
  bookNotKept = 0;
  /** The book entry an skb's H record is filling (its first pass with a new signature). */
  private readonly filling = new Map<string, BookEntry>();

  /** Paths mode: the next H record's calls of this skb are the pass this mark names. */
  mark(m: CbPathMark): void {
    this.marks.set(m.skb, m);
  }

  /** The hooks a signature's chain went through before it, root first; known: the chain reached a packet's beginning. */
  private chain(sig: string): { entries: BookEntry[]; known: boolean } {
    const entries: BookEntry[] = [];
    const seen = new Set<string>();
    for (let s = sig; s !== '0';) {
      const e = this.book.get(s);
      // A loop is a hash collision: stop there rather than walk for ever.
      if (!e || seen.has(s)) return { entries: entries.reverse(), known: false };
      seen.add(s);
      entries.push(e);
      s = e.parent;
    }
    return { entries: entries.reverse(), known: true };
  }

  add(t: number, ev: CbRecord): { pass: CbPass; started: boolean } | null {
    if (ev.kind === 'C') {
      // A protocol family nfscope has no name for is not a pass of any family it reports: never
      // taken for ipv4 (follow_cb.bt probes ipv4/ipv6 callbacks, and one may serve another family).
      const family = PF_FAMILY[ev.pf];
      if (!family) return null;
      const hook = HOOK_NAMES[family][ev.hooknum] ?? `hook ${ev.hooknum}`;
      let p = this.open.get(ev.skb);
      const last = p?.calls.at(-1);
      const ended = last?.ret !== undefined && last.ret !== null && last.ret.verdict !== 1;
      const back = last && (ORDER[hook] ?? 0) < (ORDER[last.hook] ?? 0) && !(hook === 'PRE_ROUTING' && last.hook === 'POST_ROUTING');
      let started = false;
      const mk = this.marks.get(ev.skb);
      this.marks.delete(ev.skb);
      // Paths mode: the kernel's chain says whether this hook goes on the skb's open pass: its last
      // printed hook must be the parent, by signature and by when it began.
      const fresh = mk ? mk.parent === '0' || mk.parent === '1' || p?.sigs?.at(-1) !== mk.parent || p.lastNsecs !== mk.parentNsecs : !p || ended || back || t - p.t > 1;
      if (fresh) {
        p = { skb: ev.skb, t, family, tuple: ev.tuple, calls: [] };
        if (mk) {
          p.sigs = [];
          if (mk.parent === '1') p.counted = { parent: mk.parent, hooks: [], known: false };
          else if (mk.parent !== '0') {
            const c = this.chain(mk.parent);
            p.calls = c.entries.flatMap((e) => e.calls.map((x) => ({ ...x, counted: true as const })));
            p.counted = { parent: mk.parent, hooks: c.entries.map((e) => e.hook), known: c.known };
          }
        }
        this.open.set(ev.skb, p);
        started = true;
      }
      const call: PassCall = { hook, call: ev, ret: null };
      p!.calls.push(call);
      if (mk) {
        p!.sigs?.push(mk.sig);
        p!.lastNsecs = mk.nsecs;
        const b = this.book.get(mk.sig);
        this.filling.delete(ev.skb);
        if (b) b.printed++;
        else if (this.book.size < MAX_PATHS) {
          const nb: BookEntry = { parent: mk.parent, hook, calls: [call], printed: 1 };
          this.book.set(mk.sig, nb);
          this.filling.set(ev.skb, nb);
        } else this.bookNotKept++;
      } else {
        // The rest of a marked H record's calls (they come at once, after its mark).
        this.filling.get(ev.skb)?.calls.push(call);
      }
      this.pending.set(ev.skb, { pass: p!, i: p!.calls.length - 1 });
      return { pass: p!, started };
    }
    const w = this.pending.get(ev.skb);
    this.pending.delete(ev.skb);
    if (!w || w.pass.calls[w.i]!.call.callback !== ev.callback) return null;
    w.pass.calls[w.i]!.ret = ev;
    return { pass: w.pass, started: false };
  }

  /** Paths mode: an H record's calls that came with no mark (its S record was lost): the pass is taken as the record-per-pass one. */
  unmarked(skb: string): void {
    this.marks.delete(skb);
    this.filling.delete(skb);
    // The skb's open pass cannot be continued by a marked hook after this one: its chain is broken
    // (no S record's time is -1).
    const p = this.open.get(skb);
    if (p) p.lastNsecs = -1;
  }

  /** Forgets a pass once it is reported (memory stays bounded by the packets in flight). */
  forget(p: CbPass): void {
    if (this.open.get(p.skb) === p) this.open.delete(p.skb);
    const w = this.pending.get(p.skb);
    if (w?.pass === p) this.pending.delete(p.skb);
    this.filling.delete(p.skb);
  }
}

/** The pass laid over the hook listing: every entry of each hook it met, in order, with its verdict. */
export function hookPasses(p: CbPass, listing: HookList[]): HookPass[] {
  const hooks: string[] = [];
  for (const c of p.calls) if (hooks.at(-1) !== c.hook) hooks.push(c.hook);
  let stopped = false;
  return hooks.map((hook) => {
    const calls = p.calls.filter((c) => c.hook === hook);
    const entries = listing.find((l) => l.family === p.family && l.hook === hook && !l.device)?.entries ?? [];
    // Entries the hook record named but the tracer did not probe: what the record says of each.
    const unprobed = new Map((calls[0]?.call.unprobed ?? []).map((u) => [u.callback, u.seen]));
    const notProbed = (cb: string) => (unprobed.get(cb) === 'ran, accepted' ? 'accepted (not probed: a callback after it ran)' : 'not probed');
    const steps: CallbackStep[] = [];
    let k = 0;
    for (const e of entries) {
      const c = calls[k];
      if (stopped) { steps.push({ priority: e.priority, callback: e.callback, owner: e.owner, conntrack: e.conntrack, verdict: 'not reached' }); continue; }
      if (c && c.call.callback === e.callback) {
        const v = c.ret ? verdictName(c.ret.verdict) : 'no return seen';
        steps.push({ priority: e.priority, callback: e.callback, owner: e.owner, conntrack: e.conntrack, verdict: v });
        k++;
        if (c.ret && c.ret.verdict !== 1) stopped = true;
      } else {
        steps.push({ priority: e.priority, callback: e.callback, owner: e.owner, conntrack: e.conntrack, verdict: unprobed.has(e.callback) ? notProbed(e.callback) : 'not seen' });
      }
    }
    // Calls the listing does not hold (it changed while following): shown after, never dropped.
    for (const c of calls.slice(k)) {
      const cl = classify(c.call.callback, 0);
      steps.push({ priority: null, callback: c.call.callback, owner: cl.owner, conntrack: cl.conntrack, verdict: c.ret ? verdictName(c.ret.verdict) : 'no return seen' });
    }
    // Entries registered while following whose callbacks were not probed: named, their verdict not seen.
    const listed = new Set(entries.map((e) => e.callback));
    for (const [cb] of unprobed) {
      if (listed.has(cb)) continue;
      const cl = classify(cb, 0);
      steps.push({ priority: null, callback: cb, owner: cl.owner, conntrack: cl.conntrack, verdict: notProbed(cb) });
    }
    return { hook, family: p.family, callbacks: steps, ...(calls.length && calls.every((c) => c.counted) ? { counted: true as const } : {}) };
  });
}

/**
 * Conntrack's view after the last conntrack callback that accepted the packet, or (hook records)
 * after the last hook the packet passed whole: read when that hook's callbacks were done.
 */
export function conntrackView(p: CbPass, listing: HookList[]): ConntrackView | null {
  const ct = new Set(listing.flatMap((l) => l.entries.filter((e) => e.conntrack).map((e) => e.callback)));
  for (let i = p.calls.length - 1; i >= 0; i--) {
    const c = p.calls[i]!;
    if (!c.ret || c.ret.ctinfo === 9 || !(c.ret.afterHook || ct.has(c.call.callback))) continue;
    return { after: c.call.callback, ctinfo: CTINFO[c.ret.ctinfo] ?? `ctinfo ${c.ret.ctinfo}`, status: statusBits(c.ret.status) };
  }
  return null;
}

/** Tuple rewrites: a callback that returned the packet with another address or port than it got. */
/** The call's rewrite of the tuple (what it got, what it returned), or null when it returned it unchanged or unseen. */
export function rewriteOf(c: PassCall): { before: NonNullable<CbCall['tuple']>; after: NonNullable<CbCall['tuple']> } | null {
  const before = c.call.tuple;
  const after = c.ret?.tuple;
  if (!before || !after) return null;
  return before.src !== after.src || before.dst !== after.dst || before.sport !== after.sport || before.dport !== after.dport ? { before, after } : null;
}

export function natChanges(p: CbPass): NatChange[] {
  const out: NatChange[] = [];
  for (const c of p.calls) {
    // A counted pass's tuples are the earlier packet's (its client port): not this packet's rewrite.
    if (c.counted) continue;
    const r = rewriteOf(c);
    if (r) out.push({ hook: c.hook, callback: c.call.callback, ...r });
  }
  return out;
}
