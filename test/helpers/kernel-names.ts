/**
 * Callback names as the kernel under test has them, never from a version
 * table: the host tests run on any Debian 12+ or Fedora kernel.
 * - conntrack's confirm: ipv4_confirm/ipv6_confirm up to 6.1, one nf_confirm
 *   from 6.2 (which then has no ipv4_confirm symbol at all);
 * - iptables rules: nft_do_chain_ipv4/6 with iptables-nft, the legacy
 *   iptable_filter_hook/ip6table_filter_hook otherwise.
 */
import { readFileSync } from 'node:fs';
import { execa } from 'execa';

let kallsyms: string | null = null;
const has = (sym: string) => {
  kallsyms ??= readFileSync('/proc/kallsyms', 'utf8');
  return new RegExp(`^\\S+ [tT] ${sym}(\\s|$)`, 'm').test(kallsyms);
};

export function confirmCallback(v: '4' | '6'): string {
  return has(`ipv${v}_confirm`) ? `ipv${v}_confirm` : 'nf_confirm';
}

export async function iptablesCallback(v: '4' | '6'): Promise<string> {
  const r = await execa(v === '4' ? 'iptables' : 'ip6tables', ['--version'], { reject: false });
  return /nf_tables/.test(r.stdout) ? `nft_do_chain_ipv${v}` : v === '4' ? 'iptable_filter_hook' : 'ip6table_filter_hook';
}
