/**
 * `iptables-legacy-save` / `ip6tables-legacy-save` (iptables 1.8) → tables, built-in
 * chains' policies and each rule's features the hook lint reads. Pure; the caller
 * checks the tool's exit status first.
 *   *raw
 *   :PREROUTING ACCEPT [0:0]
 *   -A PREROUTING -p tcp -m tcp --dport 80 -j CT --notrack
 *   COMMIT
 */
import { ParseError } from '../lib/errors.js';
import type { LegacyTable } from '../model/hooks-lint.js';

export function parseIptablesSave(text: string, tool: LegacyTable['tool']): LegacyTable[] {
  const tables: LegacyTable[] = [];
  let cur: LegacyTable | null = null;
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '' || line.startsWith('#')) continue;
    const bad = (why: string) => new ParseError(`${tool}-save`, i + 1, line, why);
    if (line.startsWith('*')) {
      if (cur) throw bad(`table ${cur.table} has no COMMIT`);
      cur = { tool, table: line.slice(1), policies: {}, userChains: [], rules: [] };
      continue;
    }
    if (!cur) throw bad('a line outside any table');
    if (line === 'COMMIT') {
      tables.push(cur);
      cur = null;
      continue;
    }
    const chain = /^:(\S+) (\S+)/.exec(line);
    if (chain) {
      // User chains print "-" as their policy.
      if (chain[2] !== '-') cur.policies[chain[1]!] = chain[2]!;
      else cur.userChains.push(chain[1]!);
      continue;
    }
    const rule = /^-A (\S+) (.*)$/.exec(line);
    if (!rule) throw bad('not a chain, a rule or COMMIT');
    const body = ` ${rule[2]!} `;
    cur.rules.push({
      chain: rule[1]!,
      line: i + 1,
      text: line,
      ctReads: / -m (conntrack|state) /.test(body),
      // Anything else that needs conntrack: its marks, limits, helpers, zones (-j CT).
      ctUse: / -m (conntrack|state|connmark|connlimit|connbytes|connlabel|helper) | -j (CT|CONNMARK|CONNSECMARK) /.test(body),
      notrack: / -j (NOTRACK|CT .*--notrack) /.test(body),
      nat: / -j (DNAT|SNAT|MASQUERADE|REDIRECT) /.test(body),
      drop: / -j (DROP|REJECT) /.test(body),
      // A target other than a verdict or a jump sets, logs, queues or rewrites something.
      ordered: / -j (?!(ACCEPT|DROP|REJECT|RETURN) )\S+ /.test(body) && !cur.userChains.includes(/ -[jg] (\S+) /.exec(body)?.[1] ?? ''),
      ...(/ -[jg] (\S+) /.exec(body) && cur.userChains.includes(/ -[jg] (\S+) /.exec(body)![1]!) ? { jump: / -[jg] (\S+) /.exec(body)![1]! } : {}),
    });
  }
  if (cur) throw new ParseError(`${tool}-save`, lines.length, '', `table ${cur.table} has no COMMIT`);
  return tables;
}
