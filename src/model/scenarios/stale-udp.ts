import { backendPorts } from '../scenario.js';
import { nftTableText } from './nft-table.js';

/** stale-udp: the claims in words, the rulesets, the fix, and the commands a student runs by hand (--explain). */
export const STALE_UDP_WORDS = {
  'sticks-to-old-backend': 'After the DNAT rule is changed to a new backend, a live UDP flow keeps going to the old one: NAT rules are consulted for a flow\'s first packet only, and its conntrack entry keeps the old translation.',
  'new-flows-use-new-rule': 'A new flow (another source port) meanwhile goes to the new backend at once.',
  'delete-entry': 'The fix: deleting the flow\'s conntrack entry (`conntrack -D`, as kube-proxy does for UDP after a backend change) sends the same flow to the new backend.',
} as const;
export type StaleUdpClaim = keyof typeof STALE_UDP_WORDS;

export const STALE_UDP_FIX = 'After moving a UDP service to another backend, delete the conntrack entries of its flows (`conntrack -D -p udp --orig-port-dst PORT`), or they keep the old translation until they time out.';

/** The NAT chain (to `backend`) and the counters at both backends' ports, by comment. */
export function staleUdpRuleset(table: string, client: string, server: string, port: number, backend: number, oldPort: number, newPort: number): string {
  const m = `ip saddr ${client}`;
  return nftTableText(table, [
    { name: 'nat', type: 'nat', hook: 'prerouting', priority: -100, rules: [staleUdpDnat(client, server, port, backend)] },
    { name: 'in', type: 'filter', hook: 'input', priority: 0, rules: [`${m} udp dport ${oldPort} counter comment "old"`, `${m} udp dport ${newPort} counter comment "new"`] },
  ]);
}

export function staleUdpDnat(client: string, server: string, port: number, backend: number): string {
  return `ip saddr ${client} udp dport ${port} counter dnat to ${server}:${backend} comment "dnat"`;
}

/** The change of backend: the NAT chain flushed and its rule added again, in one nft transaction. */
export function staleUdpChange(table: string, client: string, server: string, port: number, backend: number): string {
  return `flush chain ip ${table} nat\nadd rule ip ${table} nat ${staleUdpDnat(client, server, port, backend)}\n`;
}

export function staleUdpCommands(id: StaleUdpClaim, port: number): string[] {
  const ns = 'ip netns exec lab-s';
  const [oldPort, newPort] = backendPorts(port);
  return [
    'ip netns add lab-s   # and a veth to a client netns lab-c',
    `${ns} nft 'add table ip u; add chain ip u nat { type nat hook prerouting priority -100; }; add rule ip u nat udp dport ${port} dnat to <server address>:${oldPort}'`,
    `${ns} nft 'add chain ip u in { type filter hook input priority 0; }; add rule ip u in udp dport ${oldPort} counter; add rule ip u in udp dport ${newPort} counter'`,
    `ip netns exec lab-c python3 payload/net/udp.py flow <server address> ${port} 60 &`,
    `${ns} nft 'flush chain ip u nat; add rule ip u nat udp dport ${port} dnat to <server address>:${newPort}'`,
    `${ns} nft list chain ip u in   # the old backend's counter still moves`,
    ...(id === 'new-flows-use-new-rule' ? [`ip netns exec lab-c python3 payload/net/udp.py once <server address> ${port} 5   # the new backend's counter +5`] : []),
    ...(id === 'delete-entry' ? [`${ns} conntrack -D -p udp --orig-port-dst ${port}`, `${ns} nft list chain ip u in   # now the new one moves`] : []),
    `${ns} conntrack -L -p udp   # the flow's entry and the port it is translated to`,
  ];
}
