import { notTracedReason, reasonText, type TraceSynReport } from '../model/trace-syn.js';
import { renderHookLists } from './hooks-table.js';
import { callbackLines } from './callbacks.js';

/** The human rendering: the four observations, then the verdict. */
export function renderTraceSyn(r: TraceSynReport): string {
  const o: string[] = [];
  o.push(`nfscope trace-syn: kernel ${r.kernel}, target ${r.target}, ${r.family} tcp dport ${r.port}, firewall ${r.firewall}${r.afterConfirm ? ', drop chain after confirm' : ''}`);
  if (r.sandbox) o.push(`${r.sandbox.inPlace ? 'in place' : 'sandbox'}: client ${r.sandbox.client} [${r.sandbox.clientAddr}] → server ${r.sandbox.server} [${r.sandbox.serverAddr}]; ${r.synsSent} SYN(s) sent`);
  o.push('', '[1] Netfilter callbacks that saw the SYN, in the order it met them, and what each returned (* = conntrack)');
  if (r.callbacks.length) o.push(...callbackLines(r.callbacks).map((l) => `    ${l}`));
  else if (notTracedReason(r, 'callbacks') === null) o.push('    none ran for the SYN (the kprobes on them were attached)');
  else o.push('    not observed (see below)');
  o.push('', '[2] What dropped it');
  if (r.drop) {
    o.push(`    reason ${reasonText(r.drop.reason)}${r.drop.reasonCode !== null ? ` (${r.drop.reasonCode})` : ''} at ${r.drop.location}, ${r.drop.count} drop(s)`);
    o.push(`    hook ${r.drop.hook ?? '?'} priority ${r.drop.priority ?? '?'} callback ${r.drop.callback ?? '?'}`);
    for (const e of r.drop.evidence) o.push(`    evidence: ${e}`);
    o.push('    stack of the free:', ...r.drop.stack.slice(0, 12).map((f) => `      ${f}`));
  } else {
    // "None seen" only from a probe that was attached; else what the rule counter says, beside the reason.
    o.push(notTracedReason(r, 'drop') === null ? '    no drop of the SYN seen on skb:kfree_skb (attached for the whole run)' : '    not observed: skb:kfree_skb was not traced (see below)');
    if (r.ruleCounter) o.push(`    rule counter: ${r.ruleCounter.rule}: ${r.ruleCounter.packets} packet(s)`);
  }
  o.push('', '[3] The conntrack table (server netns)');
  o.push(r.conntrackEntry
    ? `    ${r.conntrackEntry.state ?? ''} ${r.conntrackEntry.original} ${r.conntrackEntry.flags.map((f) => `[${f}]`).join(' ')} ${r.conntrackEntry.reply}`
    : '    no entry for the flow');
  o.push('', '[4] The unconfirmed entry');
  if (r.unconfirmed) {
    const u = r.unconfirmed;
    o.push(`    allocated ${u.allocated}, confirmed ${u.confirmed}, freed unconfirmed ${u.freedUnconfirmed}` +
      (u.lifetimeUs ? `, lifetime µs min/p50/max ${u.lifetimeUs.min}/${u.lifetimeUs.p50}/${u.lifetimeUs.max}` : ''));
    if (u.destroyStack.length) o.push('    stack of the free:', ...u.destroyStack.slice(0, 14).map((f) => `      ${f}`));
  } else o.push('    not observed (see below)');
  if (r.hooks.length) {
    o.push('', `Hooks of the server netns during the run (${r.family}):`);
    o.push(...renderHookLists(r.hooks));
  }
  for (const w of r.hookWarnings ?? []) o.push(`warning (hook listing): ${w}`);
  if (r.unavailable.length) {
    o.push('', 'Not observable on this target:');
    for (const u of r.unavailable) o.push(`  - ${u.observation}: ${u.reason}`);
  }
  o.push('', 'Verdict:', `  ${r.verdict}`);
  return o.join('\n');
}
