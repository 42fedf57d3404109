/**
 * The outputs of the article's own tools (Cloudflare, "Conntrack turns a blind
 * eye to dropped SYNs", 2021; cloudflare/cloudflare-blog,
 * 2021-03-conntrack-syn-drop/tools/), read into nfscope's models so that a
 * reader who ran them can bring their output here. Pure.
 *
 * list-nf-hooks (drgn, init_net only):
 *   🪝 ipv4 PRE_ROUTING
 *          -400 → ipv4_conntrack_defrag
 *          -200 → ipv4_conntrack_in, other_at_same_priority
 *   (a blank line after each hook)
 * Its hook enum includes NF_INET_INGRESS (5.10+), which indexes one past
 * hooks_ipv4[]/hooks_ipv6[]: what it prints there is not a hook of that
 * family. Those sections are left out, with a warning.
 *
 * trace-conntrack-prerouting.bt (bpftrace, port 2570 fixed in the script):
 *   Tracing conntrack PREROUTING callbacks... Hit Ctrl-C to quit
 *   13:04:07 10.0.0.1:41244 > 10.0.0.2:2570 tcp syn ipv4_conntrack_defrag
 */
import { ParseError } from '../lib/errors.js';
import { HOOK_NAMES, type HookList } from '../model/hooks.js';
import { classify } from '../model/owners.js';
import type { PreroutingHit } from '../model/parse-report.js';

const HEADER = /^🪝 (ipv4|ipv6) ([A-Z_]+)$/u;
const ENTRY = /^\s*(-?\d+) → (\S.*)$/u;

export function parseListNfHooks(text: string): { hooks: HookList[]; warnings: string[] } {
  const hooks: HookList[] = [];
  const warnings: string[] = [];
  let cur: HookList | null = null;
  /** In an INGRESS section (see above): its entries are counted and left out. */
  let skipping: 'ipv4' | 'ipv6' | false = false;
  text.split('\n').forEach((raw, i) => {
    const line = raw.trimEnd();
    const bad = (why: string) => new ParseError('list-nf-hooks output', i + 1, line, why);
    if (line === '') {
      cur = null;
      skipping = false;
      return;
    }
    let m = HEADER.exec(line);
    if (m) {
      const family = m[1] as 'ipv4' | 'ipv6';
      if (!HOOK_NAMES[family].includes(m[2]!)) {
        if (m[2] === 'INGRESS') {
          skipping = family;
          cur = null;
          return;
        }
        throw bad(`unknown hook ${m[2]}`);
      }
      cur = { family, hook: m[2]!, entries: [] };
      hooks.push(cur);
      skipping = false;
      return;
    }
    m = ENTRY.exec(line);
    if (m) {
      if (skipping) {
        warnings.push(`${skipping} INGRESS entry ${m[1]} → ${m[2]} left out: list-nf-hooks indexes one past hooks_${skipping}[] for NF_INET_INGRESS (5.10+), so it is not a hook of ${skipping}`);
        return;
      }
      if (!cur) throw bad('an entry outside a hook');
      const prio = Number(m[1]);
      for (const cb of m[2]!.split(', ')) {
        if (!/^[A-Za-z_][\w.]*$/.test(cb)) throw bad(`not a function name: ${JSON.stringify(cb)}`);
        cur.entries.push(classify(cb, prio));
      }
      return;
    }
    throw bad('unrecognised line');
  });
  if (hooks.length === 0 && warnings.length === 0) throw new ParseError('list-nf-hooks output', 1, text.slice(0, 80), 'no hook section (🪝 FAMILY HOOK)');
  return { hooks: hooks.filter((h) => h.entries.length > 0), warnings };
}

const BANNER = /^Tracing conntrack PREROUTING callbacks\.\.\. Hit Ctrl-C to quit$/;
const HIT = /^(\d\d:\d\d:\d\d) (\S+:\d+) > (\S+:\d+) tcp syn ([A-Za-z_][\w.]*)$/;

/** trace-conntrack-prerouting.bt's lines → one hit per callback call. */
export function parseTraceConntrackPrerouting(text: string): PreroutingHit[] {
  const out: PreroutingHit[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trimEnd();
    if (line === '' || BANNER.test(line) || /^Attaching \d+ probes?\.\.\.$/.test(line)) return;
    const m = HIT.exec(line);
    if (!m) throw new ParseError('trace-conntrack-prerouting.bt output', i + 1, line, 'expected "HH:MM:SS SRC:PORT > DST:PORT tcp syn CALLBACK"');
    out.push({ time: m[1]!, src: m[2]!, dst: m[3]!, callback: m[4]! });
  });
  if (out.length === 0) throw new ParseError('trace-conntrack-prerouting.bt output', 1, text.slice(0, 80), 'no traced SYN in the input');
  return out;
}
