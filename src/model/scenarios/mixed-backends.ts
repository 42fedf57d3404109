/** mixed-backends: the claims in words, the rules, the fix, and the commands a student runs by hand (--explain). */
export const MIXED_WORDS = {
  'both-on-the-hook': 'iptables-legacy and iptables-nft rules in one netns put two tables on the same hook: LOCAL_IN runs the legacy filter table (ipt_do_table) and nftables\' filter chain, both at priority 0.',
  'hidden-drop': 'An ACCEPT in one backend does not save a packet from the other\'s DROP, and `iptables-nft-save` lists no DROP (iptables 1.8.9 says at most, in a warning, that legacy tables exist): the legacy rule takes every SYN, and the client gets no answer.',
  'one-backend': 'The fix: with the legacy rules flushed (one backend left), the same SYNs reach the server, which answers each (a RST from the closed port).',
} as const;
export type MixedClaim = keyof typeof MIXED_WORDS;

export const MIXED_FIX = 'Use one backend: list both (`iptables-legacy-save`, `iptables-nft-save`, or `nfscope hooks --lint`, NFS003), move the legacy rules over, and flush the legacy tables.';

export function legacyDropArgv(client: string, port: number): string[] {
  return ['iptables-legacy', '-A', 'INPUT', '-s', client, '-p', 'tcp', '--dport', String(port), '-j', 'DROP'];
}
export function nftAcceptArgv(client: string, port: number): string[] {
  return ['iptables-nft', '-A', 'INPUT', '-s', client, '-p', 'tcp', '--dport', String(port), '-j', 'ACCEPT'];
}

export function mixedCommands(id: MixedClaim, port: number): string[] {
  const ns = 'ip netns exec lab-s';
  return [
    'ip netns add lab-s   # and a veth to a client netns lab-c',
    `${ns} iptables-legacy -A INPUT -p tcp --dport ${port} -j DROP`,
    `${ns} iptables-nft -A INPUT -p tcp --dport ${port} -j ACCEPT`,
    `ip netns exec lab-c python3 payload/net/syn.py <server address> ${port} 5   # "refused": 0, no answer`,
    `${ns} iptables-nft-save -c     # an ACCEPT, no DROP anywhere`,
    `${ns} iptables-legacy-save -c  # the DROP, with its count`,
    'nfscope hooks --netns lab-s --family ipv4   # ipt_do_table and nft_do_chain_ipv4 on LOCAL_IN',
    ...(id === 'one-backend' ? [`${ns} iptables-legacy -F INPUT`, `ip netns exec lab-c python3 payload/net/syn.py <server address> ${port} 5   # "refused": 5`] : []),
  ];
}
