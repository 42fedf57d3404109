/** udp-race: the claims in words, the rulesets, the fix, and the commands a student runs by hand (--explain). */
import { backendPorts } from '../scenario.js';
import { nftTableText } from './nft-table.js';

export const UDP_RACE_WORDS = {
  'insert-race': 'Two datagrams of one new UDP flow sent at the same moment from two CPUs (the A and AAAA queries of one socket) both pass conntrack before either\'s entry is confirmed: each gets an entry of its own, NAT is looked up for both, and the second to be confirmed clashes with the first (`conntrack -S` clash_resolve, or insert_failed where the kernel gives up).',
  'clash-resolved': 'When both entries translate alike (one backend), this kernel resolves the clash: the loser is merged into the winner\'s entry and its datagram delivered; none is dropped as insert_failed, the drop behind the "5-second DNS delay" of older kernels.',
  'different-translations': 'When the two entries translate differently (DNAT to one of two backends at random), this kernel still delivers both datagrams: the loser is inserted as a NAT clash entry of its own (it lives 1 s; `conntrack -L` does not list it, `conntrack -C` counts it), none is dropped as insert_failed.',
  'fix-socket-per-query': 'The fix on the client: one socket per query (resolv.conf `single-request-reopen`): the two datagrams are two flows, nothing clashes, all are delivered.',
} as const;
export type UdpRaceClaim = keyof typeof UDP_RACE_WORDS;
/** In the order the report shows them. */
export const UDP_RACE_CLAIMS = Object.keys(UDP_RACE_WORDS) as UdpRaceClaim[];

export const UDP_RACE_FIX = 'Send each query of a pair from its own socket (resolv.conf `options single-request-reopen`, or `single-request` to send them one after the other), or run a node-local DNS cache so that queries do not cross NAT; on these kernels conntrack resolves the clash itself, and `conntrack -S` insert_failed says where one does not.';

/** Flows a phase sends, two datagrams each. */
export const UDP_RACE_FLOWS = 300;
/**
 * Clashes needed before "some of them translated differently" is shown: with two backends chosen at
 * random, the chance that N clashes all translated alike is 2^-N (1 in 1024 at 10).
 */
export const UDP_RACE_MIN_CLASHES = 10;

/** DNAT of `port` to one backend, or to one of two at random (numgen), each a port of the server. */
export function udpRaceRuleset(table: string, client: string, server: string, port: number, backends: number[]): string {
  const to = backends.length === 1 ? `${server}:${backends[0]}` : `${server} : numgen random mod ${backends.length} map { ${backends.map((b, k) => `${k} : ${b}`).join(', ')} }`;
  return nftTableText(table, [
    { name: 'nat', type: 'nat', hook: 'prerouting', priority: -100, rules: [`ip saddr ${client} udp dport ${port} counter dnat to ${to} comment "dnat"`] },
  ]);
}

export function udpRaceCommands(id: UdpRaceClaim, port: number): string[] {
  const ns = 'ip netns exec lab-s';
  const [a, b] = backendPorts(port);
  const to = id === 'different-translations' ? `<server address> : numgen random mod 2 map { 0 : ${a}, 1 : ${b} }` : `<server address>:${a}`;
  return [
    'ip netns add lab-s   # and a veth to a client netns lab-c; two CPUs',
    `${ns} nft 'add table ip r; add chain ip r nat { type nat hook prerouting priority -100; }; add rule ip r nat udp dport ${port} counter dnat to ${to}'`,
    `${ns} python3 payload/net/udpsink.py <server address> ${a} ${b} &   # Ctrl-C: what each port received`,
    `${ns} conntrack -S`,
    `ip netns exec lab-c python3 payload/net/race.py <server address> ${port} ${UDP_RACE_FLOWS} ${id === 'fix-socket-per-query' ? 'two' : 'one'}`,
    `${ns} conntrack -S   # clash_resolve, insert_failed`,
    `${ns} conntrack -C; ${ns} nft list table ip r   # entries and NAT evaluations against the flows`,
  ];
}
