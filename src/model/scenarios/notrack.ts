import { backendPorts } from '../scenario.js';
import { dnatChain, nftTableText } from './nft-table.js';

/** notrack: the claims in words, the rulesets, the fix, and the commands a student runs by hand (--explain). */
export const RAW_PRIORITY = -300;
/** A chain after conntrack (-200) and before NAT (-100): where a misplaced notrack does nothing (hooks --lint NFS004). */
export const LATE_PRIORITY = -150;

export const NOTRACK_WORDS = {
  untracked: `A notrack rule in a chain before conntrack (priority ${RAW_PRIORITY}, where iptables' raw table sits) leaves the packets untracked: \`ct state untracked\` matches them, and conntrack holds no entry for them.`,
  'no-nat': 'Untracked packets skip NAT: the DNAT rule never sees them, and they reach the original port, untranslated.',
  'notrack-after-conntrack': `The same notrack rule in a chain after conntrack (priority ${LATE_PRIORITY}) does nothing: conntrack has already given the packets an entry, so the rule matches them but they stay tracked and translated (\`nfscope hooks --lint\` NFS004).`,
  'tracked-again': 'The fix: without the notrack rule the same SYNs are tracked and translated: the DNAT rule counts them, they reach the new port, and conntrack holds their entries.',
} as const;
export type NotrackClaim = keyof typeof NOTRACK_WORDS;

export const NOTRACK_FIX = 'Never notrack traffic that NAT or a ct state rule must see: exempt it from the notrack rule (or drop the rule).';

/** The NAT table and the counters on input (both phases), by comment. */
export function notrackBaseRuleset(table: string, client: string, server: string, port: number, newPort: number): string {
  const m = `ip saddr ${client}`;
  // The input counters count SYNs only: a translated SYN connects, and its connection's later packets are not the workload's.
  const syn = 'tcp flags & (syn | ack) == syn';
  return nftTableText(table, [
    dnatChain(`${m} tcp dport ${port}`, server, newPort),
    {
      name: 'in', type: 'filter', hook: 'input', priority: 0,
      rules: [`${m} ${syn} ct state untracked counter comment "untracked"`, `${m} tcp dport ${port} ${syn} counter comment "to-port"`, `${m} tcp dport ${newPort} ${syn} counter comment "to-new-port"`],
    },
  ]);
}

/**
 * The notrack chain: at RAW_PRIORITY (the pitfall) or LATE_PRIORITY (NFS004's, after conntrack). Its
 * rule takes the SYNs only: after conntrack they connect, and their connections' later packets are not the workload's.
 */
export function notrackRawRuleset(table: string, client: string, port: number, priority: number = RAW_PRIORITY): string {
  return nftTableText(table, [{ name: 'raw', type: 'filter', hook: 'prerouting', priority, rules: [`ip saddr ${client} tcp dport ${port} tcp flags & (syn | ack) == syn counter notrack comment "notrack"`] }]);
}

export function notrackCommands(id: NotrackClaim, port: number): string[] {
  const ns = 'ip netns exec lab-s';
  const [newPort] = backendPorts(port);
  return [
    'ip netns add lab-s   # and a veth to a client netns lab-c',
    `${ns} nft 'add table ip n; add chain ip n nat { type nat hook prerouting priority -100; }; add rule ip n nat tcp dport ${port} counter dnat to <server address>:${newPort}'`,
    `${ns} nft 'add chain ip n in { type filter hook input priority 0; }; add rule ip n in ct state untracked counter'`,
    ...(id === 'tracked-again' ? [] : [`${ns} nft 'add table ip r; add chain ip r raw { type filter hook prerouting priority ${id === 'notrack-after-conntrack' ? LATE_PRIORITY : RAW_PRIORITY}; }; add rule ip r raw tcp dport ${port} tcp flags \& (syn | ack) == syn counter notrack'`]),
    `ip netns exec lab-c python3 payload/net/syn.py <server address> ${port} 5`,
    `${ns} nft list table ip n   # which counters moved`,
    `${ns} conntrack -L -p tcp   # entries only for tracked packets`,
  ];
}
