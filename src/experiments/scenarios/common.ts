/** What the scenarios' experiments share: counters read by comment, SYNs sent, a listing kept as data. */
import type { Counts, CtTableState, Listing, SynOutcome } from '../../model/scenario.js';
import { parseConntrackCount, parseConntrackStats } from '../../parsers/conntrack-stats.js';
import type { Target } from '../../targets/target.js';
import { run } from '../../lib/run.js';
import { inNetns } from '../../tools/netns.js';
import { nftTableCounters } from '../../tools/nft.js';
import type { Run } from '../session.js';
import type { Sandbox } from '../sandbox.js';

/**
 * The counters of a table of the scenario's, by comment. Every name in `want` must be there: a
 * rule the scenario loaded and did not find is an error, never a zero.
 */
export async function countsOf(target: Target, sb: Sandbox, table: string, want: readonly string[]): Promise<Counts> {
  const { counters, argv } = await nftTableCounters(target, sb.server, 'ip', table);
  const out: Counts = {};
  for (const name of want) {
    const c = counters.filter((x) => x.comment === name);
    if (c.length !== 1) throw new Error(`${argv.join(' ')}: ${c.length} rule(s) with comment "${name}" in table ${table}, expected 1`);
    out[name] = c[0]!.packets;
  }
  return out;
}

/**
 * Exactly `count` SYNs from the client netns (payload/net/syn.py), each its own connection
 * attempt, and what came back: its JSON line says how many it sent, connected and were refused
 * (a RST); a short count or another line is an error.
 */
export async function sendSyns(target: Target, python: string, sb: Sandbox, port: number, count: number): Promise<SynOutcome> {
  const argv = inNetns(sb.client, [python, await target.bundled('payload/net/syn.py'), sb.serverAddr, String(port), String(count), '300']);
  const r = await run(target, argv, { timeoutMs: 60_000 });
  const o = lastJsonLine(argv, r.stdout);
  const n = (v: unknown) => (typeof v === 'number' && Number.isInteger(v) && v >= 0 ? v : NaN);
  const out = { sent: n(o.sent), connected: n(o.connected), refused: n(o.refused) };
  if (out.sent !== count || Number.isNaN(out.connected) || Number.isNaN(out.refused)) throw new Error(`${argv.join(' ')}: ${JSON.stringify(o).slice(0, 120)}, not ${count} SYNs sent with their outcome`);
  return out;
}

/** The JSON object a payload printed as its last line; anything else is an error naming the command. */
export function lastJsonLine(argv: string[], stdout: string): Record<string, unknown> {
  const line = stdout.trim().split('\n').pop() ?? '';
  try {
    const o = JSON.parse(line) as unknown;
    if (o && typeof o === 'object' && !Array.isArray(o)) return o as Record<string, unknown>;
  } catch {
    /* said below */
  }
  throw new Error(`${argv.join(' ')}: not the JSON line it prints: ${JSON.stringify(line.slice(0, 160))}`);
}

/** A payload's {"sent": N}, which must be the count it was asked for: a short send is a failed workload. */
export function checkSent(argv: string[], stdout: string, want: number): number {
  const o = lastJsonLine(argv, stdout);
  if (o.sent !== want) throw new Error(`${argv.join(' ')}: ${JSON.stringify(o).slice(0, 120)}, not ${want} sent`);
  return want;
}

/** The server netns's hooks, or why there are none (a failed listing is not an empty table). */
export async function listingOf(r: Run, sb: Sandbox, progress: (m: string) => void): Promise<Listing> {
  const unavailable: { observation: string; reason: string }[] = [];
  const hooks = await r.serverHooks(sb, 'ipv4', unavailable, progress);
  return unavailable.length ? { failure: unavailable[0]!.reason } : { hooks };
}

/** `conntrack -S` (summed over CPUs) and `conntrack -C` of the server netns, read together. */
export async function ctTableState(target: Target, sb: Sandbox): Promise<CtTableState> {
  const [s, c] = await Promise.all([
    run(target, inNetns(sb.server, ['conntrack', '-S']), { timeoutMs: 20_000 }),
    run(target, inNetns(sb.server, ['conntrack', '-C']), { timeoutMs: 20_000 }),
  ]);
  const stats = parseConntrackStats(s.stdout);
  return { count: parseConntrackCount(c.stdout), stats: stats.totals, statsLines: stats.lines };
}
