/**
 * `nft -a monitor` output (nftables 1.0.6), the trace lines only: what
 * nf_tables did to each traced packet, chain by chain. Ruleset events (add
 * table ..., # new generation ...) are returned apart: follow reads them to
 * know that the monitor is listening. Pure.
 *
 *   trace id 35ea7613 inet nfscope_followcap pre packet: iif "veth0" ... ip saddr 198.19.77.1 ... tcp dport 2571 tcp flags == syn ...
 *   trace id 35ea7613 inet nfscope_followcap pre unknown rule handle 3 (verdict continue)
 *   trace id 35ea7613 inet nfscope_followcap pre policy accept
 *   trace id 35ea7613 ip filter INPUT rule tcp dport 2571 counter packets 0 bytes 0 drop # handle 2 (verdict drop)
 *
 * nft prints "unknown rule handle N" when it has no cache of the rule (seen
 * for rules added after the monitor started, 1.0.6).
 */
import { ParseError } from '../lib/errors.js';
import { tcpFlagNames } from './follow-drop.js';
import type { PacketTuple } from '../model/follow.js';

/** The header fields of a `packet:` line: the tuple, and the devices nft names. */
export type NftTracePacket = PacketTuple & { iif: string | null; oif: string | null };

export type NftTraceLine =
  | { id: string; family: string; table: string; chain: string; kind: 'packet'; packet: NftTracePacket }
  | { id: string; family: string; table: string; chain: string; kind: 'rule'; handle: number | null; rule: string | null; verdict: string }
  | { id: string; family: string; table: string; chain: string; kind: 'policy'; verdict: string }
  | { id: string; family: string; table: string; chain: string; kind: 'verdict'; verdict: string };

const HEAD = /^trace id ([0-9a-f]{1,8}) (ip|ip6|inet|arp|bridge|netdev) (\S+) (\S+) (.*)$/;

/** The header fields of a `packet:` line that follow needs. */
export function parsePacketFields(text: string): NftTracePacket {
  const w = text.trim().split(/\s+/);
  const p: NftTracePacket = { family: null, proto: null, src: null, dst: null, sport: null, dport: null, tcpFlags: null, iif: null, oif: null };
  for (let i = 0; i < w.length; i++) {
    const a = w[i]!, b = w[i + 1];
    if (a === 'iif' && b) p.iif = b.replace(/^"|"$/g, '');
    else if (a === 'oif' && b) p.oif = b.replace(/^"|"$/g, '');
    else if ((a === 'ip' || a === 'ip6') && b === 'saddr') { p.family = a === 'ip' ? 'ipv4' : 'ipv6'; p.src = w[i + 2] ?? null; }
    else if ((a === 'ip' || a === 'ip6') && b === 'daddr') p.dst = w[i + 2] ?? null;
    else if (a === 'ip' && b === 'protocol') p.proto = w[i + 2] ?? null;
    else if (a === 'ip6' && b === 'nexthdr') p.proto = w[i + 2] ?? null;
    else if ((a === 'tcp' || a === 'udp') && b === 'sport') { p.proto ??= a; p.sport = Number(w[i + 2]); }
    else if ((a === 'tcp' || a === 'udp') && b === 'dport') { p.proto ??= a; p.dport = Number(w[i + 2]); }
    else if (a === 'icmp' || a === 'icmpv6') p.proto ??= a;
    else if (a === 'tcp' && b === 'flags') {
      // "tcp flags == syn" or "tcp flags == 0x12" or "tcp flags == syn | ack" (1.0.x prints ==, later ones may not)
      let j = i + 2;
      if (w[j] === '==') j++;
      const flags: string[] = [];
      while (j < w.length && /^[a-z]+$|^0x[0-9a-f]+$/.test(w[j]!) && !['tcp', 'ip', 'ip6', 'udp'].includes(w[j]!)) {
        flags.push(w[j]!);
        j++;
        if (w[j] === '|') j++; else break;
      }
      // nftables 1.0.6 prints a combination as hex (`tcp flags == 0x12`): named here as single flags are.
      p.tcpFlags = flags.length === 1 && /^0x[0-9a-f]+$/.test(flags[0]!) ? tcpFlagNames(parseInt(flags[0]!, 16)) : flags;
    }
  }
  if (p.sport !== null && !Number.isInteger(p.sport)) p.sport = null;
  if (p.dport !== null && !Number.isInteger(p.dport)) p.dport = null;
  return p;
}

/** Parses the lines; non-trace lines go to `other`. */
export function parseNftTrace(text: string): { lines: NftTraceLine[]; other: string[] } {
  const lines: NftTraceLine[] = [];
  const other: string[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trimEnd();
    if (line === '') return;
    const l = parseNftTraceLine(line, i + 1);
    if (l) lines.push(l);
    else other.push(line);
  });
  return { lines, other };
}

/** One line: a trace record, or null for a line that is not one (ruleset events). */
export function parseNftTraceLine(line: string, lineNo = 1): NftTraceLine | null {
  if (!line.startsWith('trace id ')) return null;
  const m = HEAD.exec(line.trimEnd());
  if (!m) throw new ParseError('nft monitor trace', lineNo, line, 'expected "trace id ID FAMILY TABLE CHAIN ..."');
  const [, id, family, table, chain, rest] = m as unknown as [string, string, string, string, string, string];
  const base = { id, family, table, chain };
  if (rest.startsWith('packet:')) return { ...base, kind: 'packet', packet: parsePacketFields(rest.slice('packet:'.length)) };
  // No regex here may backtrack over the line: `^rule (.*?)… \(verdict ([^)]+)\)\s*$` did, and an
  // 88 KB line took 1 s of the event loop, Ctrl-C included (issue 26). rest has no trailing
  // whitespace (HEAD matched the trimmed line), so each form is cut by index, in one pass.
  if (rest.startsWith('policy ')) {
    const v = rest.slice('policy '.length);
    if (v !== '' && !/\s/.test(v)) return { ...base, kind: 'policy', verdict: v };
  }
  const rv = ruleVerdict(rest);
  if (rv) {
    const unknown = /^unknown rule handle (\d+)$/.exec(rv.body);
    if (unknown) return { ...base, kind: 'rule', handle: Number(unknown[1]), rule: null, verdict: rv.verdict };
    if (rv.body.startsWith('rule ')) {
      const body = rv.body.slice('rule '.length);
      const h = body.lastIndexOf(' # handle ');
      const handle = h >= 0 && /^\d+$/.test(body.slice(h + ' # handle '.length)) ? body.slice(h + ' # handle '.length) : null;
      return { ...base, kind: 'rule', handle: handle === null ? null : Number(handle), rule: handle === null ? body : body.slice(0, h), verdict: rv.verdict };
    }
  }
  if (rest.startsWith('verdict ') && rest.length > 'verdict '.length) return { ...base, kind: 'verdict', verdict: rest.slice('verdict '.length) };
  throw new ParseError('nft monitor trace', lineNo, line, 'unknown trace record (expected packet:, rule, policy or verdict)');
}

/**
 * "BODY (verdict V)" at the end of rest, V without ')': the first " (verdict " whose remainder has
 * no ')' before the last character, as the lazy regex it replaces chose it. Linear.
 */
function ruleVerdict(rest: string): { body: string; verdict: string } | null {
  if (!rest.endsWith(')')) return null;
  const lastInner = rest.lastIndexOf(')', rest.length - 2);
  const at = rest.indexOf(' (verdict ', Math.max(0, lastInner - ' (verdict '.length + 1));
  if (at < 0) return null;
  const verdict = rest.slice(at + ' (verdict '.length, -1);
  if (verdict === '' || verdict.includes(')')) return null;
  return { body: rest.slice(0, at), verdict };
}
