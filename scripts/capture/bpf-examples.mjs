#!/usr/bin/env node
// capture/bpf-examples.mjs - bpf/NAME_example.txt for every program, as
// bpftrace's own tools ship them: what the program shows, then a real run.
// The runs are nfscope's captured fixtures (test/fixtures/<tool>/<kernel>/<case>/,
// each with the argv, bpftrace version, kernel and set-up beside it); the
// output quoted is their printf text, verbatim, cut to the first lines.
// test/unit/bpf-examples.test.ts checks that each example's output is still
// in the fixture it names. Usage: node scripts/capture/bpf-examples.mjs
import { readFileSync, writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export const EXAMPLES = [
  {
    program: 'nf_hooks', fixture: 'test/fixtures/bpftrace/6.18.44-fc-v657/nat-chains-words', lines: 80,
    intro: 'nf_hooks.bt lists the netfilter hook entries of the netns it runs in, per family and hook, in the\norder the kernel calls them. N: the netns inode; S: a hook slot and its entry count; E: an entry\'s\npriority and callback; C: that entry read as an nf_tables chain (its table\'s family, then the\nfirst 32 bytes of the table\'s and the chain\'s names as little-endian words: nfscope keeps it for\nnft_do_chain_* entries only); n: a NAT chain behind nf_nat\'s entry; D: a device\'s netdev hook\nentry; Z: the end. nfscope ran it here as two programs side by side (the hook slots with mask 15,\nthe devices with mask 16), chain naming filled in, in a netns with nftables\' ipv4-nat.nft, an\niptables-nft rule, chains of its own (one named with more than 32 bytes), an ip6 NAT chain and a\nnetdev chain, on a 6.18 host.',
  },
  {
    program: 'kfree_skb_syn', fixture: 'test/fixtures/kfree_skb_syn/6.18.44-fc-v657/ipv4-iptables-count2', lines: 40,
    intro: 'kfree_skb_syn.bt reports each drop of a TCP SYN to one port in one netns (skb:kfree_skb): the\ntime, the drop reason (a number, named from the tracepoint\'s format file by nfscope), where it\nwas freed, and the kernel stack. Here two SYNs dropped by an iptables rule, on a 6.18 host:\nnf_hook_slow in the stack names the netfilter hook.',
  },
  {
    program: 'follow_drop', fixture: 'test/fixtures/follow/6.18.44-fc-v657/drop', file: 'follow_drop.jsonl', lines: 40,
    intro: 'follow_drop.bt reports each drop (skb:kfree_skb) of a packet that matches nfscope follow\'s\nfilter in one netns: the time, the reason number (named from the tracepoint\'s format by nfscope),\nwhere it was freed, the skb, the tuple, the TCP flags, the device, and the kernel stack. Here a\nSYN and its retransmission, dropped by an iptables-nft rule, on a 6.18 host.',
  },
  {
    program: 'follow_cb', fixture: 'test/fixtures/follow/6.1.0-57-amd64/dnat', file: 'events.jsonl', source: 'callbacks', lines: 40,
    intro: 'follow_cb.bt (a template: nfscope fills in the callbacks the netns registered) prints one\nH record per hook a matching packet passed: when the hook began, the skb, hook, family and\nprotocol (one word), nf_hook_slow\'s return, how many callbacks ran, the verdict that ended the\nhook (255: none), which callback rewrote the tuple (a bit each), conntrack\'s view after the\nhook (ctinfo | status << 8), the tuple at entry, at exit and after the first rewrite, and the\ncallbacks that ran (read from the hook\'s entries). Here a SYN to port 2580 meets a DNAT on\nDebian\'s 6.1 in nfscope\'s micro-VM: bit 3 of the rewrite mask is nf_nat_ipv4_pre_routing,\nwhich sends it to port 2581 (0a15). The lines are taken from a captured nfscope follow run\n(events.jsonl keeps every line each source printed).',
  },
  {
    program: 'ct_syn', fixture: 'test/fixtures/ct_syn/6.1.0-56-amd64/ipv4-iptables-count1', lines: 100,
    intro: 'ct_syn.bt (a template: nfscope fills in the callbacks the kernel registered) follows one SYN\nthrough netfilter: C a callback saw it (hook number 0 PRE_ROUTING, 1 LOCAL_IN), R what it\nreturned (1 ACCEPT, 0 DROP, 2 STOLEN), A conntrack allocated an entry for it, K the drop, X the\nentry freed (status 0: IPS_CONFIRMED clear; then its lifetime in ns). Here on Debian\'s 6.1:\nconntrack allocated an entry at PRE_ROUTING; at LOCAL_IN nf_tables dropped the SYN itself (K inside\nnft_do_chain, so nft_do_chain_ipv4 returns STOLEN), and the entry was freed with it, never confirmed.',
  },
  {
    program: 'ct_life', fixture: 'test/fixtures/ct_life/6.1.0-56-amd64/burst-200syn-100connect', lines: 60,
    intro: 'ct_life.bt (a template: kprobes or fentry) follows every conntrack entry allocated while it\nruns and accounts for each (confirmed, freed unconfirmed, freed confirmed, alive), in the\nkernel. Its maps are printed at exit. Here 200 SYNs to a dropped port and 100 connections to an\nopen one, on Debian\'s 6.1 in nfscope\'s micro-VM.',
  },
];

/** The printf text and the maps of a bpftrace -f json capture, as bpftrace would have printed them. */
export function outputLines(jsonl) {
  const out = [];
  for (const line of jsonl.split('\n')) {
    if (!line.trim()) continue;
    const ev = JSON.parse(line);
    if (ev.type === 'printf') out.push(...String(ev.data).replace(/\n$/, '').split('\n'));
    else if (ev.type === 'map' || ev.type === 'hist') out.push(`${JSON.stringify(ev.data)}`);
    else if (ev.type === 'attached_probes') out.push(`Attaching ${ev.data.probes} probes...`);
  }
  return out;
}

export function example(e) {
  const meta = JSON.parse(readFileSync(join(root, e.fixture, 'meta.json'), 'utf8'));
  const text = readFileSync(join(root, e.fixture, e.file ?? 'stdout.jsonl'), 'utf8');
  // A follow capture keeps each source's lines wrapped ({"t", "src", "line"}): the source's own lines.
  const lines = outputLines(e.source ? text.split('\n').filter(Boolean).map((l) => JSON.parse(l)).filter((x) => x.src === e.source).map((x) => x.line).join('\n') : text);
  const shown = lines.slice(0, e.lines);
  return [
    `Demonstrations of ${e.program}.bt, nfscope's bpftrace program.`,
    '',
    e.intro,
    '',
    `Run:     ${meta.argv}`,
    `Kernel:  ${meta.kernel}`,
    `Tool:    ${meta.tool}`,
    `Set-up:  ${meta.setup}`,
    `Source:  ${e.fixture} (a captured run, used as a parser fixture; JSON events shown as text)`,
    '',
    ...shown.map((l) => `  ${l}`),
    ...(lines.length > shown.length ? [`  [... ${lines.length - shown.length} more lines]`] : []),
    '',
  ].join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const e of EXAMPLES) {
    const file = join(root, 'bpf', `${e.program}_example.txt`);
    writeFileSync(file, example(e));
    console.log(`wrote ${file}`);
  }
}
