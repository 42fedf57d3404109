/** early-chain: the claims in words, the fix, and the commands a student runs by hand (--explain). */
import { nftTableText } from './nft-table.js';
export const EARLY_PRIORITY = -300;
export const FIXED_PRIORITY = -190;
/** The scenario's table: this prefix and the sandbox's id. */
export const EARLY_TABLE_PREFIX = 'nfscope_early_';

export const EARLY_CHAIN_WORDS = {
  'runs-before-conntrack': `A base chain on prerouting at priority ${EARLY_PRIORITY} runs before conntrack's own callback on that hook (priority -200).`,
  'no-state-before-conntrack': `There it sees no connection state: the packets of an established TCP connection match \`ct state invalid\` (the packet has no conntrack entry yet), never \`ct state established\`.`,
  'state-after-conntrack': `The fix: the same chain at priority ${FIXED_PRIORITY}, after conntrack, sees the state: the connection's packets match \`ct state established\`, none \`ct state invalid\`.`,
} as const;
export type EarlyChainClaim = keyof typeof EARLY_CHAIN_WORDS;

export const EARLY_CHAIN_FIX = `Put a chain that matches ct state (or does anything conntrack must have seen first) after conntrack: priority ${FIXED_PRIORITY} (above -200) on prerouting and output.`;

/** The ruleset of one phase: the counters the judge reads, each named by its comment. */
export function earlyChainRuleset(table: string, priority: number, client: string, port: number): string {
  const m = `ip saddr ${client} tcp dport ${port}`;
  return nftTableText(table, [{
    name: 'pre', type: 'filter', hook: 'prerouting', priority,
    rules: [
      `${m} counter comment "seen"`,
      ...['established', 'new', 'invalid', 'untracked'].map((st) => `${m} ct state ${st} counter comment "${st}"`),
    ],
  }]);
}

export function earlyChainCommands(id: EarlyChainClaim, port: number): string[] {
  const ns = 'ip netns exec lab-s';
  const prio = id === 'state-after-conntrack' ? FIXED_PRIORITY : EARLY_PRIORITY;
  return [
    'ip netns add lab-s   # and a veth to a client netns lab-c, with a TCP server in lab-s',
    `${ns} nft 'add table ip t; add chain ip t pre { type filter hook prerouting priority ${prio}; }'`,
    `${ns} nft 'add rule ip t pre tcp dport ${port} ct state established counter; add rule ip t pre tcp dport ${port} ct state invalid counter'`,
    `ip netns exec lab-c python3 payload/net/flow.py talk <server address> ${port} 5`,
    `${ns} nft list chain ip t pre      # which counter moved`,
    `${ns} conntrack -L -p tcp --dport ${port}   # the connection is ESTABLISHED all the same`,
    'nfscope hooks --netns lab-s --family ipv4   # the chain against ipv4_conntrack_in (-200)',
  ];
}
