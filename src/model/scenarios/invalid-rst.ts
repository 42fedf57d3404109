/** invalid-rst: the claims in words, the rulesets, the fix, and the commands a student runs by hand (--explain). */
import { backendPorts } from '../scenario.js';
import { dnatChain, nftTableText } from './nft-table.js';

export const INVALID_RST_WORDS = {
  'marked-invalid': 'A segment of an established connection far outside the receiver\'s window (its sequence number 2^30 past the next one) is INVALID to conntrack: it matches `ct state invalid`.',
  'why-invalid': 'Conntrack\'s own log of INVALID packets (`nf_conntrack_log_invalid`, read through nfnetlink_log in the server netns) names the check that failed: tcp_in_window found the segment\'s sequence number over the upper bound of the receiver\'s window.',
  'untranslated-reset': 'Being INVALID it has no conntrack entry, so DNAT does not apply: it reaches the original port, where no socket listens, and the server\'s RST for it resets the client\'s connection.',
  'fix-drop-invalid': 'The first fix: `ct state invalid drop` (after conntrack) drops the segment, and the connection lives on.',
  'fix-be-liberal': 'The other fix: with `net.netfilter.nf_conntrack_tcp_be_liberal=1` conntrack takes the segment as the connection\'s, DNAT applies, the server\'s socket discards it, and the connection lives on.',
} as const;
export type InvalidRstClaim = keyof typeof INVALID_RST_WORDS;

export const INVALID_RST_FIX = 'Drop `ct state invalid` after conntrack (what kube-proxy added for kubernetes #74839, in PR #74840), or set nf_conntrack_tcp_be_liberal=1 so that out-of-window segments keep their entry and their translation.';

/** The IP length of inject.py's segment: 20 + 20 + 37 bytes; no other packet of the connection has it. */
export const SEGMENT_IP_LENGTH = 77;

/** The NAT chain, a chain after conntrack counting (and with the fix, dropping) INVALID segments, and the input counters. */
export function invalidRstRuleset(table: string, client: string, server: string, port: number, newPort: number, dropInvalid: boolean): string {
  const m = `ip saddr ${client}`;
  return nftTableText(table, [
    dnatChain(`${m} tcp dport ${port}`, server, newPort),
    { name: 'pre', type: 'filter', hook: 'prerouting', priority: -150, rules: [`${m} tcp dport ${port} ct state invalid counter ${dropInvalid ? 'drop ' : ''}comment "invalid"`] },
    {
      name: 'in', type: 'filter', hook: 'input', priority: 0,
      rules: [
        `${m} tcp dport ${port} counter comment "to-port"`,
        // The injected segment alone: 37 bytes of payload, IP length 77 (payload/net/inject.py).
        `${m} tcp dport ${newPort} ip length ${SEGMENT_IP_LENGTH} counter comment "segment-translated"`,
      ],
    },
    { name: 'out', type: 'filter', hook: 'output', priority: 0, rules: [`ip daddr ${client} tcp sport ${port} tcp flags & rst == rst counter comment "rst"`] },
  ]);
}

export function invalidRstCommands(id: InvalidRstClaim, port: number): string[] {
  const ns = 'ip netns exec lab-s';
  const [newPort] = backendPorts(port);
  return [
    'ip netns add lab-s   # and a veth to a client netns lab-c',
    `${ns} nft 'add table ip t; add chain ip t nat { type nat hook prerouting priority -100; }; add rule ip t nat tcp dport ${port} dnat to <server address>:${newPort}'`,
    `${ns} nft 'add chain ip t pre { type filter hook prerouting priority -150; }; add rule ip t pre ct state invalid counter${id === 'fix-drop-invalid' ? ' drop' : ''}'`,
    ...(id === 'fix-be-liberal' ? [`${ns} sysctl -w net.netfilter.nf_conntrack_tcp_be_liberal=1`] : []),
    `${ns} python3 payload/net/flow.py serve <server address> ${newPort} &`,
    ...(id === 'why-invalid' ? [
      `${ns} python3 payload/net/nflog.py 0 &   # prints what conntrack logs`,
      `${ns} sh -c 'echo nfnetlink_log > /proc/sys/net/netfilter/nf_log/2; echo 6 > /proc/sys/net/netfilter/nf_conntrack_log_invalid'`,
    ] : []),
    `ip netns exec lab-c python3 payload/net/inject.py <server address> ${port}   # "reset": true or false`,
    `${ns} nft list table ip t   # the invalid counter`,
  ];
}
