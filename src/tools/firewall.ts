/**
 * argv builders for the sandbox firewall: pure functions, one argv per rule.
 * The port is an integer validated before anything runs.
 */
export type Firewall = 'iptables' | 'nft';
import type { IpFamily } from '../model/hooks.js';

export type { IpFamily };

import { NF_PRI_LAST } from '../model/hooks.js';

export { NF_PRI_LAST };

const ipt = (f: IpFamily) => (f === 'ipv4' ? 'iptables' : 'ip6tables');

/** The comment every iptables rule of a run carries: what tells it from the user's identical rule. */
export const ruleComment = (runId: string) => `nfscope:${runId}`;

/** A run id: the sandbox's 6 random hex digits (experiments/sandbox.ts), also in its netns and link names. */
export const RUN_ID = /^[0-9a-f]{6}$/;

/**
 * An INPUT rule appended (the article's `iptables -A INPUT …`), tagged with
 * the run's comment, and removed by the spec *with* that comment: `-D` by
 * spec deletes the first identical rule, so without the comment a user's own
 * `--ctstate ESTABLISHED,RELATED -j ACCEPT` ahead of ours was the one deleted
 * (issue 26). No other rule carries this run's comment, so -D can only take
 * ours. Chains and rules in nfscope's own nft tables go with their table.
 */
function ipRule(cmd: string, spec: string[], runId: string): { argv: string[]; undo: string[] } {
  const tagged = [...spec, '-m', 'comment', '--comment', ruleComment(runId)];
  return { argv: [cmd, '-A', 'INPUT', ...tagged], undo: [cmd, '-D', 'INPUT', ...tagged] };
}

/** An nft table of nfscope's, named per run so that two runs, or a user's table of the base name, never meet. */
export const nftTable = (base: 'ct' | 'drop' | 'filter', runId: string) => `nfscope_${base}_${runId}`;
const nftFam = (f: IpFamily) => (f === 'ipv4' ? 'ip' : 'ip6');

export interface FirewallPlan {
  /** Commands in the order they must run (order matters for --after-confirm), each with its undo. */
  steps: { what: string; argv: string[]; undo?: string[] }[];
  /** How to read the drop rule's counter afterwards. */
  counter: { kind: 'iptables'; argv: string[]; chain: string } | { kind: 'nft'; argv: string[]; chain: string };
  /** Where the drop rule sits, as the user would describe it. */
  dropAt: { hook: 'LOCAL_IN'; priority: number; via: string };
}

/**
 * The drop rule for TCP dport `port` in INPUT, plus a rule that needs conntrack
 * (which makes conntrack register its hooks in the netns, lazily).
 * afterConfirm: the drop is an nft chain at input priority INT_MAX registered
 * *before* conntrack, so confirm (registered later, same priority) runs first.
 */
export function firewallPlan(fw: Firewall, family: IpFamily, port: number, afterConfirm: boolean, runId: string): FirewallPlan {
  if (!RUN_ID.test(runId)) throw new Error(`bad run id ${JSON.stringify(runId)}`);
  const f = nftFam(family);
  const ct = nftTable('ct', runId);
  const dropT = nftTable('drop', runId);
  const filterT = nftTable('filter', runId);
  const p = String(port);
  const steps: FirewallPlan['steps'] = [];
  const ctRule = fw === 'iptables'
    ? [{ what: 'a conntrack rule (iptables -m conntrack)', ...ipRule(ipt(family), ['-m', 'conntrack', '--ctstate', 'ESTABLISHED,RELATED', '-j', 'ACCEPT'], runId) }]
    : [
        { what: 'nft table for conntrack', argv: ['nft', 'add', 'table', f, ct], undo: ['nft', 'delete', 'table', f, ct] },
        { what: 'nft prerouting chain', argv: ['nft', 'add', 'chain', f, ct, 'pre', '{ type filter hook prerouting priority 0; }'] },
        { what: 'a conntrack rule (nft ct state)', argv: ['nft', 'add', 'rule', f, ct, 'pre', 'ct', 'state', 'established,related', 'accept'] },
      ];
  if (afterConfirm) {
    steps.push(
      { what: 'nft drop table', argv: ['nft', 'add', 'table', f, dropT], undo: ['nft', 'delete', 'table', f, dropT] },
      { what: `nft input chain at priority ${NF_PRI_LAST}`, argv: ['nft', 'add', 'chain', f, dropT, 'input', `{ type filter hook input priority ${NF_PRI_LAST}; }`] },
      { what: `drop tcp dport ${p}`, argv: ['nft', 'add', 'rule', f, dropT, 'input', 'tcp', 'dport', p, 'counter', 'drop'] },
      ...ctRule,
    );
    return {
      steps,
      counter: { kind: 'nft', argv: ['nft', '-j', 'list', 'table', f, dropT], chain: 'input' },
      dropAt: { hook: 'LOCAL_IN', priority: NF_PRI_LAST, via: `nft table ${f} ${dropT}, chain input` },
    };
  }
  if (fw === 'iptables') {
    steps.push({ what: `DROP tcp dport ${p}`, ...ipRule(ipt(family), ['-p', 'tcp', '--dport', p, '-j', 'DROP'], runId) }, ...ctRule);
    return {
      steps,
      counter: { kind: 'iptables', argv: [`${ipt(family)}-save`, '-c', '-t', 'filter'], chain: 'INPUT' },
      dropAt: { hook: 'LOCAL_IN', priority: 0, via: `${ipt(family)} filter INPUT` },
    };
  }
  steps.push(
    { what: 'nft filter table', argv: ['nft', 'add', 'table', f, filterT], undo: ['nft', 'delete', 'table', f, filterT] },
    { what: 'nft input chain at priority 0', argv: ['nft', 'add', 'chain', f, filterT, 'input', '{ type filter hook input priority 0; }'] },
    { what: `drop tcp dport ${p}`, argv: ['nft', 'add', 'rule', f, filterT, 'input', 'tcp', 'dport', p, 'counter', 'drop'] },
    ...ctRule,
  );
  return {
    steps,
    counter: { kind: 'nft', argv: ['nft', '-j', 'list', 'table', f, filterT], chain: 'input' },
    dropAt: { hook: 'LOCAL_IN', priority: 0, via: `nft table ${f} ${filterT}, chain input` },
  };
}
