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
  const pol = /^policy (\S+)\s*$/.exec(rest);
  if (pol) return { ...base, kind: 'policy', verdict: pol[1]! };
  const unknown = /^unknown rule handle (\d+) \(verdict ([^)]+)\)\s*$/.exec(rest);
  if (unknown) return { ...base, kind: 'rule', handle: Number(unknown[1]), rule: null, verdict: unknown[2]! };
  const rule = /^rule (.*?)(?: # handle (\d+))? \(verdict ([^)]+)\)\s*$/.exec(rest);
  if (rule) return { ...base, kind: 'rule', handle: rule[2] ? Number(rule[2]) : null, rule: rule[1]!, verdict: rule[3]! };
  const v = /^verdict (.+?)\s*$/.exec(rest);
  if (v) return { ...base, kind: 'verdict', verdict: v[1]! };
  throw new ParseError('nft monitor trace', lineNo, line, 'unknown trace record (expected packet:, rule, policy or verdict)');
}
