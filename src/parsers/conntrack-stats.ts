import { ParseError } from '../lib/errors.js';

/** `conntrack -S`: its counters summed over the CPUs, and the lines as printed (the evidence). */
export interface CtStats {
  /** found, invalid, insert, insert_failed, drop, early_drop, error, …: which ones depends on the kernel. */
  totals: Record<string, number>;
  cpus: number;
  lines: string[];
}

/**
 * Parses `conntrack -S` (conntrack-tools 1.4): one line per CPU, `cpu=N <tab> key=value …`. The
 * counters a kernel reports differ by version (clash_resolve came in 5.10; chaintoolong later: 6.1 has it),
 * so every key is kept; a line of another shape is an error, never skipped.
 */
export function parseConntrackStats(text: string): CtStats {
  const totals: Record<string, number> = {};
  const lines: string[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    const bad = (why: string) => new ParseError('conntrack -S', i + 1, line, why);
    const pairs = line.trim().split(/\s+/).map((kv) => /^([a-z_]+)=(\d+)$/.exec(kv));
    if (pairs.some((m) => m === null)) throw bad('not key=number pairs');
    if (pairs[0]![1] !== 'cpu') throw bad('does not start with cpu=');
    for (const m of pairs.slice(1)) totals[m![1]!] = (totals[m![1]!] ?? 0) + Number(m![2]);
    lines.push(line.trim());
  });
  if (lines.length === 0) throw new ParseError('conntrack -S', 1, text.slice(0, 80), 'no CPU line');
  return { totals, cpus: lines.length, lines };
}

/** `conntrack -C`: the number of entries of the namespace it runs in. */
export function parseConntrackCount(text: string): number {
  const t = text.trim();
  if (!/^\d+$/.test(t)) throw new ParseError('conntrack -C', 1, t.slice(0, 80), 'not a count');
  return Number(t);
}
