/** table-full: the claims in words, the ruleset, the fix, and the commands a student runs by hand (--explain). */
import { nftTableText } from './nft-table.js';

export const TABLE_FULL_WORDS = {
  'full-drops-new': 'With the conntrack table at nf_conntrack_max, conntrack drops a new flow\'s first packet itself: the SYNs reach the hook but never get past conntrack, get no answer, and `conntrack -S` counts each as a drop.',
  'assured-kept': 'early_drop, which makes room in a full table, never evicts an entry that saw traffic both ways (ASSURED): a table full of established connections stays full, and every one of them lives on.',
  'unassured-evicted': 'Entries that never saw a reply (an unanswered UDP flow: UNREPLIED, not ASSURED) are evicted to make room: new connections get through a table full of them.',
  'fix-raise-max': 'The fix: an nf_conntrack_max sized for the flows the machine carries (and nf_conntrack_buckets with it): the same SYNs connect, and nothing is dropped.',
} as const;
export type TableFullClaim = keyof typeof TABLE_FULL_WORDS;
/** In the order the report shows them. */
export const TABLE_FULL_CLAIMS = Object.keys(TABLE_FULL_WORDS) as TableFullClaim[];

export const TABLE_FULL_FIX = 'Size net.netfilter.nf_conntrack_max for the flows the machine carries (and nf_conntrack_buckets with it), shorten the timeouts of states that pile up, or notrack traffic that needs no state; watch `conntrack -S` drop and early_drop, and `conntrack -C` against the max.';

/** Established connections held open to fill the table in the first phases. */
export const TABLE_FULL_HELD = 8;
/**
 * Unreplied UDP flows for the eviction phase, with the hash table at its smallest (512 buckets on
 * x86-64: one page of bucket heads): early_drop scans the 8 buckets from the new flow's, so with
 * 1024 entries about 16 are in reach (the chance of none is about e^-16).
 */
export const TABLE_FULL_UDP = 1024;
export const TABLE_FULL_BUCKETS = 512;

/** SYN counters before conntrack (-300) and after it (input, ct state new: the SYNs conntrack let through). */
export function tableFullRuleset(table: string, client: string, port: number): string {
  const syn = `ip saddr ${client} tcp dport ${port} tcp flags & (syn | ack) == syn`;
  return nftTableText(table, [
    { name: 'pre', type: 'filter', hook: 'prerouting', priority: -300, rules: [`${syn} counter comment "syn-seen"`] },
    { name: 'in', type: 'filter', hook: 'input', priority: 0, rules: [`${syn} ct state new counter comment "syn-past"`] },
  ]);
}

export function tableFullCommands(id: TableFullClaim, port: number): string[] {
  const ns = 'ip netns exec lab-s';
  return [
    '# in a VM: nf_conntrack_max is one value for the whole machine',
    'ip netns add lab-s   # and a veth to a client netns lab-c',
    `${ns} nft 'add table ip t; add chain ip t in { type filter hook input priority 0; }; add rule ip t in ct state new counter'`,
    `${ns} python3 payload/net/listen.py <server address> ${port} hold &`,
    ...(id === 'unassured-evicted'
      ? [
          `sysctl -w net.netfilter.nf_conntrack_buckets=${TABLE_FULL_BUCKETS}`,
          `ip netns exec lab-c python3 payload/net/udp.py spread <server address> ${port} ${TABLE_FULL_UDP}   # unanswered: UNREPLIED entries`,
          `sysctl -w net.netfilter.nf_conntrack_max=$(${ns} conntrack -C)`,
        ]
      : [
          `ip netns exec lab-c python3 payload/net/hold.py <server address> ${port} ${TABLE_FULL_HELD} &   # ${TABLE_FULL_HELD} ASSURED entries`,
          `sysctl -w net.netfilter.nf_conntrack_max=${TABLE_FULL_HELD}`,
        ]),
    ...(id === 'fix-raise-max' ? ['sysctl -w net.netfilter.nf_conntrack_max=262144'] : []),
    `${ns} conntrack -S   # drop, early_drop`,
    `ip netns exec lab-c python3 payload/net/syn.py <server address> ${port} 5   # connected, or no answer`,
    `${ns} conntrack -S; ${ns} conntrack -L   # the drops, the evictions, what is left`,
    'dmesg | grep "table full"',
  ];
}
