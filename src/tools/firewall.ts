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

/**
 * An INPUT rule appended (the article's `iptables -A INPUT …`), removed by
 * the same spec with -D. Chains and rules in nfscope's own nft tables go
 * with their table.
 */
function ipRule(cmd: string, spec: string[]): { argv: string[]; undo: string[] } {
  return { argv: [cmd, '-A', 'INPUT', ...spec], undo: [cmd, '-D', 'INPUT', ...spec] };
}
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
export function firewallPlan(fw: Firewall, family: IpFamily, port: number, afterConfirm: boolean): FirewallPlan {
  const f = nftFam(family);
  const p = String(port);
  const steps: FirewallPlan['steps'] = [];
  const ctRule = fw === 'iptables'
    ? [{ what: 'a conntrack rule (iptables -m conntrack)', ...ipRule(ipt(family), ['-m', 'conntrack', '--ctstate', 'ESTABLISHED,RELATED', '-j', 'ACCEPT']) }]
    : [
        { what: 'nft table for conntrack', argv: ['nft', 'add', 'table', f, 'nfscope_ct'], undo: ['nft', 'delete', 'table', f, 'nfscope_ct'] },
        { what: 'nft prerouting chain', argv: ['nft', 'add', 'chain', f, 'nfscope_ct', 'pre', '{ type filter hook prerouting priority 0; }'] },
        { what: 'a conntrack rule (nft ct state)', argv: ['nft', 'add', 'rule', f, 'nfscope_ct', 'pre', 'ct', 'state', 'established,related', 'accept'] },
      ];
  if (afterConfirm) {
    steps.push(
      { what: 'nft drop table', argv: ['nft', 'add', 'table', f, 'nfscope_drop'], undo: ['nft', 'delete', 'table', f, 'nfscope_drop'] },
      { what: `nft input chain at priority ${NF_PRI_LAST}`, argv: ['nft', 'add', 'chain', f, 'nfscope_drop', 'input', `{ type filter hook input priority ${NF_PRI_LAST}; }`] },
      { what: `drop tcp dport ${p}`, argv: ['nft', 'add', 'rule', f, 'nfscope_drop', 'input', 'tcp', 'dport', p, 'counter', 'drop'] },
      ...ctRule,
    );
    return {
      steps,
      counter: { kind: 'nft', argv: ['nft', '-j', 'list', 'table', f, 'nfscope_drop'], chain: 'input' },
      dropAt: { hook: 'LOCAL_IN', priority: NF_PRI_LAST, via: `nft table ${f} nfscope_drop, chain input` },
    };
  }
  if (fw === 'iptables') {
    steps.push({ what: `DROP tcp dport ${p}`, ...ipRule(ipt(family), ['-p', 'tcp', '--dport', p, '-j', 'DROP']) }, ...ctRule);
    return {
      steps,
      counter: { kind: 'iptables', argv: [`${ipt(family)}-save`, '-c', '-t', 'filter'], chain: 'INPUT' },
      dropAt: { hook: 'LOCAL_IN', priority: 0, via: `${ipt(family)} filter INPUT` },
    };
  }
  steps.push(
    { what: 'nft filter table', argv: ['nft', 'add', 'table', f, 'nfscope_filter'], undo: ['nft', 'delete', 'table', f, 'nfscope_filter'] },
    { what: 'nft input chain at priority 0', argv: ['nft', 'add', 'chain', f, 'nfscope_filter', 'input', '{ type filter hook input priority 0; }'] },
    { what: `drop tcp dport ${p}`, argv: ['nft', 'add', 'rule', f, 'nfscope_filter', 'input', 'tcp', 'dport', p, 'counter', 'drop'] },
    ...ctRule,
  );
  return {
    steps,
    counter: { kind: 'nft', argv: ['nft', '-j', 'list', 'table', f, 'nfscope_filter'], chain: 'input' },
    dropAt: { hook: 'LOCAL_IN', priority: 0, via: `nft table ${f} nfscope_filter, chain input` },
  };
}
