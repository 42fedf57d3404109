/**
 * `nfscope parse KIND`'s text, one renderer per kind, from the report that --json writes (or, for
 * kstack and conntrack, the pieces the command computes or streams). Each line ends in a newline.
 */
import Table from 'cli-table3';
import type { CallNode } from '../model/call-tree.js';
import type { CtEntry } from '../model/conntrack.js';
import type { ParseBpftraceJsonReport, ParseFunctionGraphReport, ParseHooksReport, ParseKstackReport, ParseTracePreroutingReport } from '../model/parse-report.js';
import { renderCallTree } from './call-tree.js';
import { COMPACT, renderHookLists } from './hooks-table.js';

/** A block of output as one line (or lines): a newline added unless it ends in one. */
const line = (s: string): string => (s.endsWith('\n') ? s : s + '\n');

export function renderFunctionGraph(r: ParseFunctionGraphReport, maxDepth: number | undefined): string {
  const { stats, roots } = r;
  return line(`${stats.records} records, ${roots} call trees merged by path (CPU(s) ${stats.cpus.join(',') || '?'})` +
    `${stats.lostEvents ? `, ${stats.lostEvents} lost events` : ''}${stats.unfinished ? `, ${stats.unfinished} calls without a return` : ''}` +
    `${stats.orphanReturns ? `, ${stats.orphanReturns} returns without a call` : ''}${stats.taskSwitches ? `, ${stats.taskSwitches} task switches` : ''}`) +
    line(renderCallTree(r.tree, { maxDepth }));
}

/** `perMap`: each map's events and its own stacks' tree, in the report's map order. */
export function renderKstack(r: ParseKstackReport, perMap: { map: string; events: number; tree: CallNode[] }[], maxDepth: number | undefined): string {
  let out = line(`${r.stacks} distinct stacks in ${r.maps.join(', ')}, ${r.total} events, outermost frame first` +
    `${r.skippedLines ? ` (${r.skippedLines} lines outside stack maps skipped)` : ''}:`);
  for (const m of perMap) out += line(`${m.map}: ${m.events} events`) + line(renderCallTree(m.tree, { counts: true, maxDepth }));
  return out;
}

/** `records`: all the input's records (not summed from r.events: a type named __proto__ is no key there). */
export function renderBpftraceJson(r: ParseBpftraceJsonReport, records: number): string {
  return line(`${records} events: ${Object.entries(r.events).map(([k, v]) => `${k} ${v}`).join(', ')}; lost events ${r.lostEvents}`) +
    (r.maps.length ? line(`maps: ${r.maps.join(', ')}`) : '') +
    line(r.printf.join('\n'));
}

const tuple = (x: Record<string, string>) => `${x.src ?? '?'}:${x.sport ?? ''} → ${x.dst ?? '?'}:${x.dport ?? ''}`;

/** One table of flows (parse conntrack writes one per batch of flows as it streams). */
export function renderFlowTable(flows: CtEntry[]): string {
  const t = new Table({ head: ['proto', 'state', 'timeout', 'original', 'reply', 'flags'], style: { head: [], border: [] }, chars: COMPACT });
  for (const f of flows) t.push([f.proto, f.state ?? '', f.timeout ?? '', tuple(f.original), tuple(f.reply), f.flags.join(' ')]);
  return t.toString();
}

export function renderParsedHooks(r: ParseHooksReport): string {
  return line([...renderHookLists(r.hooks), ...r.warnings.map((w) => `warning: ${w}`)].join('\n'));
}

export function renderTracePrerouting(r: ParseTracePreroutingReport): string {
  return line(`${r.hits.length} callback call(s) for SYNs of ${r.flows.length} flow(s): ${r.flows.join(', ')}`) +
    line(r.callbacks.map((c) => `    PRE_ROUTING ${c.conntrack ? '*' : ' '} ${c.callback.padEnd(24)} ${c.owner.padEnd(10)} hits=${c.hits}`).join('\n'));
}
