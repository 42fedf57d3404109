import Table from 'cli-table3';
import type { HookEntry, HookList, HooksReport } from '../model/hooks.js';

/** cli-table3 borders without a rule between rows. */
export const COMPACT = { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' };

/** One table a family/hook (netdev: a device), entries in invocation order. */
export function renderHookLists(hooks: HookList[]): string[] {
  const out: string[] = [];
  for (const h of hooks) {
    // A chain column where a backend named nf_tables chains (nft list hooks, bpftrace with BTF),
    // x_tables tables (iptables-legacy's: "table filter"), BPF programs ("bpf prog 42 name") or
    // flowtables ("flowtable inet t f").
    const chains = h.entries.some((e) => e.chain || e.xtTable || e.bpfProg || e.flowtable || e.nested?.length);
    const t = new Table({
      head: ['priority', 'callback', 'owner', 'ct', ...(chains ? ['chain'] : [])],
      colAligns: ['right', 'left', 'left', 'center', 'left'],
      style: { head: [], border: [] },
      chars: COMPACT,
    });
    const name = (e: HookEntry) => (e.chain ? [`${e.chain.family} ${e.chain.table} ${e.chain.chain}`] : e.xtTable ? [`table ${e.xtTable}`]
      : e.bpfProg ? [`bpf prog ${e.bpfProg.id}${e.bpfProg.name ? ` ${e.bpfProg.name}` : ''}`]
        : e.flowtable ? [`flowtable ${e.flowtable.family} ${e.flowtable.table} ${e.flowtable.name}`] : chains ? [''] : []);
    for (const e of h.entries) {
      t.push([String(e.priority), e.callback, e.owner, e.conntrack ? '*' : '', ...name(e)]);
      // NAT chains run from nf_nat's entry, in their own priority order.
      for (const n of e.nested ?? []) t.push([String(n.priority), ` └ ${n.callback}`, n.owner, n.conntrack ? '*' : '', ...name(n)]);
    }
    const title = `${h.family} ${h.hook}${h.device ? ` (dev ${h.device})` : ''}`;
    out.push('', title, t.toString());
    if (h.truncated) out.push(`  (only ${h.truncated.listed} of ${h.truncated.total} entries listed)`);
  }
  return out;
}

/** The human rendering of a hooks report. */
export function renderHooksTable(r: HooksReport): string {
  const out: string[] = [`kernel ${r.kernel}, netns ${r.netns}, backend ${r.backend}`];
  if (r.hooks.length === 0) out.push('no netfilter hooks registered in this namespace');
  out.push(...renderHookLists(r.hooks));
  for (const w of r.warnings) out.push(`warning: ${w}`);
  out.push('', '* = conntrack callback; lower priority runs first; equal priorities: the later registered runs first');
  return out.join('\n');
}
