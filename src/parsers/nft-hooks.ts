import { ParseError } from '../lib/errors.js';
import { type Family, type HookList, type ChainName } from '../model/hooks.js';
import { classify } from '../model/owners.js';

/**
 * `nft list hooks` text (nftables 1.0.0+, kernel 5.14+ with
 * CONFIG_NETFILTER_NETLINK_HOOK). Format per nftables src/mnl.c print_hooks()
 * (1.0.2-1.0.6):
 *   family ip {
 *   \thook prerouting {
 *   \t\t-0000000400 ipv4_conntrack_defrag [nf_defrag_ipv4]
 *   \t\t+2147483647 nf_confirm [nf_conntrack]
 *   \t\t 0000000000 chain ip filter INPUT [nf_tables]
 *   \t}
 *   }
 * nft folds netdev ingress hooks into each family as "hook ingress" without
 * naming the device; those are reported as netdev INGRESS with device "?".
 * nft chains are shown by name, not by hook function; the callback is then the
 * function nf_tables registers for that chain family (nft_do_chain_<family>),
 * so the report compares equal with the BTF walk.
 */
const FAMILY: Record<string, Family> = { ip: 'ipv4', ip6: 'ipv6', arp: 'arp', bridge: 'bridge', netdev: 'netdev' };
const HOOK: Record<string, string> = {
  prerouting: 'PRE_ROUTING', input: 'LOCAL_IN', forward: 'FORWARD', output: 'LOCAL_OUT', postrouting: 'POST_ROUTING',
  ingress: 'INGRESS', egress: 'EGRESS',
};
const ARP_HOOK: Record<string, string> = { input: 'IN', output: 'OUT', forward: 'FORWARD' };
const CHAIN_FN: Record<string, string> = {
  ip: 'nft_do_chain_ipv4', ip6: 'nft_do_chain_ipv6', inet: 'nft_do_chain_inet', arp: 'nft_do_chain_arp',
  bridge: 'nft_do_chain_bridge', netdev: 'nft_do_chain_netdev',
};

export function parseNftHooks(text: string): HookList[] {
  const out = new Map<string, HookList>();
  let family: Family | null = null;
  let cur: HookList | null = null;
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    const bad = (why: string) => new ParseError('nft list hooks', i + 1, raw, why);
    if (line === '') return;
    let m: RegExpMatchArray | null;
    if ((m = line.match(/^family (\S+) \{$/))) {
      const f = FAMILY[m[1]!];
      if (!f) throw bad(`unknown family '${m[1]}'`);
      family = f;
    } else if ((m = line.match(/^hook (\S+)(?: device (\S+))? \{$/))) {
      if (!family) throw bad('hook outside a family');
      const name = m[1]!;
      const isIngress = name === 'ingress' || name === 'egress';
      const fam: Family = isIngress ? 'netdev' : family;
      const hook = fam === 'arp' ? ARP_HOOK[name] : HOOK[name];
      if (!hook) throw bad(`unknown hook '${name}'`);
      const device = isIngress ? (m[2] ?? '?') : undefined;
      const key = `${fam}/${hook}/${device ?? ''}`;
      const seen = out.get(key);
      // nft repeats netdev ingress under every family: keep the first copy, read the rest into a throwaway list.
      cur = { family: fam, hook, ...(device ? { device } : {}), entries: [] };
      if (!seen) out.set(key, cur);
      else if (!isIngress) cur = seen;
    } else if ((m = line.match(/^([-+ ]?\d{10,11})\s+(?:chain (\S+) (\S+) (\S+)|(\S+))(?: \[(\S+)\])?$/))) {
      if (!cur) throw bad('entry outside a hook');
      const prio = Number(m[1]!.trim());
      const fn = m[2] ? CHAIN_FN[m[2]] : m[5];
      if (!fn) throw bad(`unknown chain family '${m[2]}'`);
      const e = classify(fn, prio);
      if (m[2]) e.chain = { family: m[2] as ChainName['family'], table: m[3]!, chain: m[4]! };
      cur.entries.push(e);
    } else if (line === '}') {
      if (cur) cur = null;
      else family = null;
    } else {
      throw bad('unrecognised line');
    }
  });
  return [...out.values()].filter((h) => h.entries.length > 0);
}
