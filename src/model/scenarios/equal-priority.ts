/** equal-priority: the claims in words, the fix, and the commands a student runs by hand (--explain). */
import { nftTableText } from './nft-table.js';
export const SHARED_PRIORITY = 0;
/** The fix: chain a below b, so that it runs first whatever the order of registration. */
export const FIX_PRIORITY_A = -10;

export const EQUAL_PRIORITY_WORDS = {
  'reverse-registration': `Two base chains at the same priority (${SHARED_PRIORITY}) on one hook run in reverse order of registration: the chain added last runs first.`,
  'reload-reverses': 'Reloading one of them (its table deleted and added again, as a reload of that ruleset does) makes it the newest, and the order reverses.',
  'distinct-priorities': `The fix: distinct priorities decide the order whatever the registration: chain a at ${FIX_PRIORITY_A}, added before b at ${SHARED_PRIORITY}, runs first, and still does after b is reloaded.`,
} as const;
export type EqualPriorityClaim = keyof typeof EQUAL_PRIORITY_WORDS;

export const EQUAL_PRIORITY_FIX = 'Never rely on the order of two chains at one priority: give each base chain on a hook its own priority.';

/**
 * One chain's table: rule "first" counts the SYNs it sees while the mark is still 0 (no chain of
 * the two ran before it), then it marks them. The mark of a packet that came in over the veth is 0
 * (the crossing into the server netns scrubs it).
 */
export function equalPriorityTable(table: string, priority: number, mark: number, client: string, port: number): string {
  const m = `ip saddr ${client} tcp dport ${port} tcp flags & (syn | ack) == syn`;
  return nftTableText(table, [{ name: 'pre', type: 'filter', hook: 'prerouting', priority, rules: [`${m} meta mark 0 counter comment "first"`, `${m} meta mark set ${mark}`] }]);
}

export function equalPriorityCommands(id: EqualPriorityClaim, port: number): string[] {
  const ns = 'ip netns exec lab-s';
  const [pa, pb] = id === 'distinct-priorities' ? [FIX_PRIORITY_A, SHARED_PRIORITY] : [SHARED_PRIORITY, SHARED_PRIORITY];
  const table = (t: string, p: number, mark: number) =>
    `${ns} nft 'add table ip ${t}; add chain ip ${t} pre { type filter hook prerouting priority ${p}; }; add rule ip ${t} pre tcp dport ${port} meta mark 0 counter; add rule ip ${t} pre tcp dport ${port} meta mark set ${mark}'`;
  return [
    'ip netns add lab-s   # and a veth to a client netns lab-c',
    table('a', pa, 10),
    table('b', pb, 11),
    `ip netns exec lab-c python3 payload/net/syn.py <server address> ${port} 5`,
    `${ns} nft list ruleset   # the chain whose "mark 0" counter moved ran first`,
    ...(id === 'reload-reverses' ? [`${ns} nft delete table ip a`, table('a', pa, 10), `ip netns exec lab-c python3 payload/net/syn.py <server address> ${port} 5`, `${ns} nft list ruleset`] : []),
    'nfscope hooks --netns lab-s --family ipv4   # both chains, in the order they run',
  ];
}
