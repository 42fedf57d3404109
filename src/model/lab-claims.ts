/**
 * The lab's claims in words, and the commands a student runs to see each by hand (--explain).
 * The judges that decide each claim from evidence are in judges/lab.ts.
 */
import { NF_PRI_LAST } from './hooks.js';
import type { Claim } from './lab.js';

/** Each claim as the article states it. */
export const CLAIM_WORDS: Record<Claim['id'], string> = {
  'conntrack-registers-lazily':
    'Conntrack is only called when something needs it: with no rule that needs it, a netns has no conntrack hooks and a live connection leaves no entry; a rule that needs conntrack registers the hooks, and the connection then appears, picked up mid-flow. Loading nf_conntrack with enable_hooks=1 registers them at once.',
  'where-conntrack-sits':
    'Conntrack sits on netfilter hooks: its callback runs at PRE_ROUTING, before the filter, and its confirm callback runs last at LOCAL_IN (priority INT_MAX), after the filter.',
  'conntrack-saw-the-syn': 'Conntrack saw the dropped SYN: its PRE_ROUTING callback ran for it.',
  'entry-created-and-discarded':
    'Conntrack created an entry for the SYN and threw it away: allocated unconfirmed (nf_conntrack_in → init_conntrack → __nf_conntrack_alloc), freed with the dropped skb, never in the table.',
  'priority-trick':
    'The priority trick: a drop chain at INT_MAX registered before conntrack makes confirm run first, and the dropped SYN\'s flow appears in conntrack -L as SYN_SENT [UNREPLIED].',
};

/** What a student types to see each claim by hand (names are theirs to choose). */
export function explainCommands(id: Claim['id'], port: number): string[] {
  const ns = 'ip netns exec lab-s';
  switch (id) {
    case 'conntrack-registers-lazily':
      return [
        'ip netns add lab-s   # and a veth to a client netns, with a long-lived TCP connection through it',
        'nfscope hooks --netns lab-s --family ipv4        # no conntrack entry (ct *)',
        'ip netns exec lab-s conntrack -L                  # no flow for the connection',
        'ip netns exec lab-s iptables -A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT',
        'nfscope hooks --netns lab-s --family ipv4        # conntrack\'s callbacks are registered now',
        'ip netns exec lab-s conntrack -L                  # the running connection appears, ESTABLISHED',
        'modprobe -r nf_conntrack && modprobe nf_conntrack enable_hooks=1   # where conntrack is a module: hooks in every netns',
      ];
    case 'where-conntrack-sits':
      return [
        'ip netns add lab-s',
        `${ns} iptables -A INPUT -p tcp --dport ${port} -j DROP`,
        `${ns} iptables -A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT   # conntrack registers its hooks now`,
        'nfscope hooks --netns lab-s --family ipv4        # or: ip netns exec lab-s nft list hooks (nftables 1.0+, CONFIG_NETFILTER_NETLINK_HOOK)',
      ];
    case 'conntrack-saw-the-syn':
      return [
        `bpftrace -e 'kprobe:ipv4_conntrack_in { $skb = (struct sk_buff *)arg1; $th = $skb->head + $skb->transport_header; if (bswap(*(uint16 *)($th + 2)) == ${port}) { printf("%s saw it\\n", func); } }'`,
        `ip netns exec lab-c python3 payload/net/syn.py <server address> ${port} 1   # in another terminal`,
      ];
    case 'entry-created-and-discarded':
      return [
        'cd /sys/kernel/tracing && echo ipv4_conntrack_in kfree_skb_reason > set_graph_function && echo function_graph > current_tracer',
        `ip netns exec lab-c python3 payload/net/syn.py <server address> ${port} 1`,
        'cat trace | grep -A3 init_conntrack; echo nop > current_tracer; echo > set_graph_function',
        `bpftrace -e 'kprobe:nf_conntrack_free { printf("%lx status %x\\n%s\\n", arg0, ((struct nf_conn *)arg0)->status, kstack); }'`,
        `${ns} conntrack -L -p tcp --dport ${port}     # nothing: the entry was never confirmed`,
        `nfscope lifetimes --port ${port} --duration 10`,
      ];
    case 'priority-trick':
      return [
        'ip netns add lab-t',
        `ip netns exec lab-t nft 'add table ip t; add chain ip t in { type filter hook input priority ${NF_PRI_LAST}; }; add rule ip t in tcp dport ${port} counter drop'`,
        `ip netns exec lab-t iptables -A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT   # conntrack's confirm registers after the drop chain`,
        `ip netns exec lab-c python3 payload/net/syn.py <address in lab-t> ${port} 1`,
        `ip netns exec lab-t conntrack -L -p tcp --dport ${port}     # SYN_SENT [UNREPLIED], and the drop counter reads 1`,
      ];
  }
}

