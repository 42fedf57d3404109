/**
 * src/programs/: each bundled program filled from its real template (bpf/X.bt), text in, text
 * out. The expected texts are built here from the template's lines and the inputs (which line
 * becomes what), not from an earlier output of the fill.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/sys.js';
import { ctSynProgram } from '../../src/programs/ct_syn.js';
import { kfreeSkbSynProgram } from '../../src/programs/kfree_skb_syn.js';
import { followCbProgram, pathsKeptInKernel } from '../../src/programs/follow_cb.js';
import { followDropProgram } from '../../src/programs/follow_drop.js';
import { ctLifeProgram } from '../../src/programs/ct_life.js';
import { CHAIN_INIT, xtNamesProgram, fillNfHooks, flowtableCodeMembers, flowtablesProgram, nfHooksPrograms } from '../../src/programs/nf_hooks.js';
import { ALL_FAMILIES, nfHooksServerProgram, REQUEST_PREFIX } from '../../src/programs/nf_hooks_server.js';
import { adaptProgram, type BpfShape } from '../../src/programs/adapt.js';
import { tracerArgv } from '../../src/programs/program.js';
import { BUNDLED_PROGRAMS, readTemplate, templatePath } from '../../src/programs/templates.js';
import { NO_REASON } from '../../src/model/trace-syn.js';
import type { FollowFilter } from '../../src/model/follow.js';

const bt = (name: string) => readFileSync(join(ROOT, 'bpf', `${name}.bt`), 'utf8');
/** The template with each line for which `map` says something replaced by that (null: line dropped). */
const byLine = (text: string, map: (line: string, i: number, lines: string[]) => string | null | undefined) =>
  text.split('\n').flatMap((l, i, all) => {
    const r = map(l, i, all);
    return r === undefined ? [l] : r === null ? [] : [r];
  }).join('\n');
const lineIndex = (text: string, line: string) => {
  const all = text.split('\n');
  const i = all.indexOf(line);
  expect(i, `template line ${JSON.stringify(line)}`).toBeGreaterThanOrEqual(0);
  expect(all.indexOf(line, i + 1), `one template line ${JSON.stringify(line)}`).toBe(-1);
  return i;
};
const PLAIN: BpfShape = { kfreeSkbReason: true, nfConn: { from: 'btf' }, net: { from: 'bpftrace' }, netdev: { ingress: true, egress: true }, structs: [], notes: [] };
const FILTER: FollowFilter = { proto: 'udp', port: 53, host: '192.168.1.10', netns: 'srv', iface: 'veth0' };
/** 192.168.1.10 as its bytes in memory loaded as a little-endian u32: 192 | 168 << 8 | 1 << 16 | 10 << 24. */
const HOST4 = String(192 + 168 * 256 + 1 * 65536 + 10 * 16777216);

describe('templates and the bpftrace argv', () => {
  it('every bpf/X.bt has its module src/programs/X.ts, and readTemplate reads that file', async () => {
    const files = readdirSync(join(ROOT, 'bpf')).filter((f) => f.endsWith('.bt')).map((f) => f.slice(0, -3)).sort();
    expect([...BUNDLED_PROGRAMS].sort()).toEqual(files);
    for (const name of BUNDLED_PROGRAMS) {
      expect(readdirSync(join(ROOT, 'src/programs'))).toContain(`${name}.ts`);
      expect(templatePath(name)).toBe(`bpf/${name}.bt`);
      expect(await readTemplate(name)).toBe(bt(name));
    }
  });
  it('one builder: -f json, then -e TEXT or the file, then the parameters', () => {
    expect(tracerArgv(['env', 'A=1', '/usr/bin/bpftrace'], { text: 'BEGIN { exit(); }', params: ['1', '2'] }))
      .toEqual(['env', 'A=1', '/usr/bin/bpftrace', '-f', 'json', '-e', 'BEGIN { exit(); }', '1', '2']);
    expect(tracerArgv(['bpftrace'], { file: '/opt/nfscope/bpf/x.bt', params: [] })).toEqual(['bpftrace', '-f', 'json', '/opt/nfscope/bpf/x.bt']);
  });
  it('nowhere else in src/ reads a template or spells the bpftrace argv', () => {
    const walk = (d: string): string[] => readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(d, e.name)) : e.name.endsWith('.ts') ? [join(d, e.name)] : []));
    for (const f of walk(join(ROOT, 'src'))) {
      const rel = relative(join(ROOT, 'src'), f);
      const text = readFileSync(f, 'utf8');
      if (rel !== 'programs/program.ts') expect(text, rel).not.toMatch(/'-f',\s*'json'/);
      if (rel !== 'programs/templates.ts') expect(text, rel).not.toMatch(/['`]bpf\/\w+\.bt['`]/);
    }
  });
});

describe('ct_syn.bt and kfree_skb_syn.bt', () => {
  it('ct_syn: the two probe lines become the kprobes and kretprobes; $1 port, $2 server netns', () => {
    const t = bt('ct_syn');
    lineIndex(t, 'CALLBACK_PROBES');
    lineIndex(t, 'CALLBACK_RETPROBES');
    const p = ctSynProgram(t, { callbacks: ['ipv4_conntrack_in', 'nf_confirm'], port: 2571, serverInode: '4026532000' });
    expect(p.text).toBe(byLine(t, (l) => (l === 'CALLBACK_PROBES' ? 'kprobe:ipv4_conntrack_in,\nkprobe:nf_confirm' : l === 'CALLBACK_RETPROBES' ? 'kretprobe:ipv4_conntrack_in,\nkretprobe:nf_confirm' : undefined)));
    expect(p.params).toEqual(['2571', '4026532000']);
  });
  it('ct_syn: no callback, or a name that is no kernel symbol, is refused (never program text)', () => {
    expect(() => ctSynProgram(bt('ct_syn'), { callbacks: [], port: 1, serverInode: '1' })).toThrow(/no valid callback/);
    expect(() => ctSynProgram(bt('ct_syn'), { callbacks: ['a { exit(); } kprobe:b'], port: 1, serverInode: '1' })).toThrow(/no valid callback/);
  });
  it('kfree_skb_syn: the template as it is, with ct_syn\'s two parameters', () => {
    expect(kfreeSkbSynProgram(bt('kfree_skb_syn'), { port: 80, serverInode: '4026531840' })).toEqual({ text: bt('kfree_skb_syn'), params: ['80', '4026531840'] });
  });
});

describe('follow_cb.bt and follow_drop.bt', () => {
  const t = bt('follow_cb');
  const base = { callbacks: ['nft_do_chain_ipv4'], inode: '4026532001', filter: FILTER, ifindex: 7, span: 1184 };
  const probes = (l: string) => (l === 'CALLBACK_PROBES' ? 'kprobe:nft_do_chain_ipv4' : undefined);
  it('with nf_queue probeable: the probe lines and the QUEUE_PROBE line filled; $1 netns, $2-$9 the filter, $10 the span', () => {
    lineIndex(t, 'QUEUE_PROBE');
    const p = followCbProgram(t, { ...base, queue: true });
    expect(p.text).toBe(byLine(t, (l) => probes(l) ?? (l === 'QUEUE_PROBE' ? 'kprobe:nf_queue' : undefined)));
    expect(p.params).toEqual(['4026532001', '17', '53', HOST4, '7', '0', '0', '0', '0', '1184']);
  });
  it('without: the QUEUE_PROBE block, each line marked /* queue */ gone, and $stop = 2 becomes 255', () => {
    const at = lineIndex(t, 'QUEUE_PROBE');
    const lines = t.split('\n');
    expect(lines[at + 1]).toBe('{');
    const close = lines.indexOf('}', at);
    const stop = lines.findIndex((l) => /^ *\$stop = 2;$/.test(l));
    expect(stop).toBeGreaterThan(0);
    expect(lines.filter((l) => l.endsWith('/* queue */')).length).toBe(3);
    const p = followCbProgram(t, { ...base, queue: false });
    expect(p.text).toBe(byLine(t, (l, i) => probes(l) ?? (i >= at && i <= close ? null : l.endsWith('/* queue */') ? null : i === stop ? l.replace('2;', '255;') : undefined)));
    expect(p.text).not.toMatch(/^(QUEUE_PROBE|kprobe:nf_queue)$/m);
  });
  it('paths kept in the kernel: the one H printf (and its S record) wrapped in a first-seen-or-not-accepted test, the rest counted; every other line as it was', () => {
    const filled = followCbProgram(t, { ...base, queue: true }).text;
    const p = pathsKeptInKernel(filled);
    const lines = filled.split('\n');
    const printfAt = lines.findIndex((l) => l.startsWith('      printf("H '));
    const printfLines = lines.slice(printfAt, lines.findIndex((l, i) => i >= printfAt && l.endsWith(');')) + 1);
    expect(printfLines.length).toBeGreaterThan(1);
    // When the hook began: the H printf's first argument, also the S record's last and @last's second.
    const began = /^\s*([^,]+),/.exec(printfLines[1]!)![1]!;
    expect(began).toMatch(/^(@ht\[\$k\]|\$ht)$/);
    const sRecord = `        printf("S %lx %lx %lx %lu %lu\\n", $skbp, $g, $par, $pns, ${began});`;
    // The printf, indented once more, then the S record, inside the test; then the count.
    expect(p).toContain(['      if (@ps[$g] == 0 || $r != 1) {', '        @ps[$g] = 1;', ...printfLines.map((l) => `  ${l}`), sRecord, '      } else {', '        @pn[$g] = count();', '      }'].join('\n'));
    // The chain: the pass before of the same skb (1 when none is kept), but where a packet begins (PRE_ROUTING 0, LOCAL_OUT 3).
    expect(p).toContain('      if (($h & 0xff) != 0 && ($h & 0xff) != 3) { $lt = @last[$skbp]; $par = $lt.0; $pns = $lt.1; if ($par == 0) { $par = 1; } }');
    // Its end (LOCAL_IN 1, POST_ROUTING 4, or a verdict but ACCEPT) takes the skb's entry away.
    expect(p).toContain(`      if (($h & 0xff) == 1 || ($h & 0xff) == 4 || $r != 1) { delete(@last[$skbp]); } else { @last[$skbp] = ($g, ${began}); }`);
    // So does a hook that begins a packet the filter does not match.
    const unmatched = '    if (!$ok && ($st->hook == 0 || $st->hook == 3)) { delete(@last[arg0]); }\n';
    expect(p).toContain(`${unmatched}    if ($ok) {\n`);
    // Both maps typed in BEGIN (read before written), cleared in END; the counts printed, then END.
    const typed = '  @last[(uint64)0] = ((uint64)0, (uint64)0);\n  @ps[(uint64)0] = (uint64)0;\n';
    expect(p).toContain(`  printf("READY\\n");\n${typed}`);
    const endBlock = '  clear(@last);\n  clear(@ps);\n  print(@pn);\n  clear(@pn);\n  printf("END\\n");\n';
    expect(p).toContain(`END\n{\n${endBlock}`);
    // Take the additions out, and the program is the one --every-packet runs.
    const sigFrom = p.indexOf("      /* The pass's signature");
    const testAt = p.indexOf('      if (@ps[$g] == 0 || $r != 1) {\n        @ps[$g] = 1;\n', sigFrom);
    const sigBlock = p.slice(sigFrom, testAt);
    // The signature block: only its own variables and @last.
    expect(sigBlock.split('\n').filter(Boolean).every((l) => /\$(g|par|pns|lt|pd|psp|svc|xd|xs|xsvc)\b|@last\[|\/\* (The pass|LOCAL_IN|0 and 1)/.test(l))).toBe(true);
    const back = p.replace(sigBlock, '').replace('      if (@ps[$g] == 0 || $r != 1) {\n        @ps[$g] = 1;\n', '')
      .replace(printfLines.map((l) => `  ${l}`).join('\n') + '\n' + sRecord, printfLines.join('\n'))
      .replace('      } else {\n        @pn[$g] = count();\n      }\n', '')
      .replace(typed, '').replace(endBlock, '').replace(unmatched, '');
    expect(back).toBe(filled);
    expect(() => pathsKeptInKernel(filled.replace('printf("H ', 'printf("J '))).toThrow(/H printf/);
    expect(() => pathsKeptInKernel(filled.replace('    if ($ok) {\n', '    if ($ok == 1) {\n'))).toThrow(/if \(\$ok\)/);
  });
  it('follow_drop: the template as it is; $1 netns, then the filter (0 for "any")', () => {
    expect(followDropProgram(bt('follow_drop'), { inode: '9', filter: FILTER, ifindex: 7 })).toEqual({ text: bt('follow_drop'), params: ['9', '17', '53', HOST4, '7', '0', '0', '0', '0'] });
    const any: FollowFilter = { proto: null, port: null, host: null, netns: 'srv', iface: null };
    expect(followDropProgram(bt('follow_drop'), { inode: '9', filter: any, ifindex: 0 }).params).toEqual(['9', '0', '0', '0', '0', '0', '0', '0', '0']);
    expect(followDropProgram(bt('follow_drop'), { inode: '9', filter: { ...any, proto: 'tcp', host: '127.0.0.1' }, ifindex: 0 }).params).toEqual(['9', '6', '0', String(127 + (1 << 24)), '0', '0', '0', '0', '0']);
    // IPv6: HOST4 0, then the address's 16 bytes as four u32 read little-endian (fd00:79::2 is fd 00 00 79, 0…, 00 00 00 02).
    expect(followDropProgram(bt('follow_drop'), { inode: '9', filter: { ...any, host: 'fd00:79::2' }, ifindex: 0 }).params)
      .toEqual(['9', '0', '0', '0', '0', String(0x790000fd), '0', '0', String(0x02000000)]);
  });
});

describe('ct_life.bt', () => {
  const t = bt('ct_life');
  const header = t.slice(0, t.indexOf('*/') + 2);
  const tokens = { kprobe: { ALLOC_RET: 'kretprobe:__nf_conntrack_alloc', CONFIRM: 'kprobe:__nf_conntrack_confirm', CONFIRM_RET: 'kretprobe:__nf_conntrack_confirm', FREE: 'kprobe:nf_conntrack_free', SKB_ARG: 'arg0', CT_ARG: 'arg0' },
    fentry: { ALLOC_RET: 'kretfunc:__nf_conntrack_alloc', CONFIRM: 'kfunc:__nf_conntrack_confirm', CONFIRM_RET: 'kretfunc:__nf_conntrack_confirm', FREE: 'kfunc:nf_conntrack_free', SKB_ARG: 'args->skb', CT_ARG: 'args->ct' } } as const;
  for (const style of ['kprobe', 'fentry'] as const) {
    it(`${style}: each token word of the code replaced, the header comment kept word for word`, () => {
      const map: Record<string, string> = tokens[style];
      const body = t.slice(header.length).split(/(\w+)/).map((w) => map[w] ?? w).join('');
      const p = ctLifeProgram(t, { style, port: 2571, netnsInode: '4026532002' });
      expect(p.text).toBe(header + body);
      expect(p.text.slice(header.length)).not.toMatch(/\b(ALLOC_RET|CONFIRM|CONFIRM_RET|FREE|SKB_ARG|CT_ARG)\b/);
      expect(p.params).toEqual(['2571', '4026532002']);
    });
  }
  it('all entries, every netns: both parameters 0', () => {
    expect(ctLifeProgram(t, { style: 'kprobe', port: null, netnsInode: null }).params).toEqual(['0', '0']);
  });
});

describe('nf_hooks.bt', () => {
  const t = bt('nf_hooks');
  const names = lineIndex(t, '        /* NFT_CHAIN_NAMES */');
  const netdevNames = lineIndex(t, '        /* NFT_CHAIN_NAMES_NETDEV */');
  lineIndex(t, '  /* NFT_CHAIN_INIT */');
  lineIndex(t, '  /* NFT_CHAIN_WALK */');
  const netdev = lineIndex(t, '  if (($mask & 16) != 0) {');
  const netdevEnd = t.split('\n').indexOf('  }', netdev);
  const slots = lineIndex(t, '  $s = (uint64)0;');
  it('without chain symbols, the slot walk for ipv4 is the template without its netdev walk; $1 the mask', () => {
    const [p, ...more] = nfHooksPrograms(t, { symbols: null, mask: 1, shape: PLAIN });
    expect(more).toEqual([]);
    expect(p!.text).toBe(byLine(t, (_, i) => (i >= netdev && i <= netdevEnd ? null : undefined)));
    expect(p!.params).toEqual(['1']);
  });
  it('netdev alone: the template without the slot walk (from $s = 0 to the netdev walk)', () => {
    const [p] = nfHooksPrograms(t, { symbols: null, mask: 16, shape: PLAIN });
    expect(p!.text).toBe(byLine(t, (_, i) => (i >= slots && i < netdev ? null : undefined)));
    expect(p!.params).toEqual(['16']);
  });
  it('both: the two walks apart, each with its own families', () => {
    expect(nfHooksPrograms(t, { symbols: null, mask: ALL_FAMILIES, shape: PLAIN }).map((p) => p.params)).toEqual([['15'], ['16']]);
  });
  it('with an nft_do_chain callback: a C record per entry in the loop, nothing after it (no nf_nat); the other markers leave their indent', () => {
    const filled = fillNfHooks(t, { chain: ['ffffffffc0a01000'], nat4: [], nat6: [], natChain: null });
    const half = (v: string) => `        ${v} = ${v} & (0 - ((((${v} >> 47) & 0x1ffff) + 1) >> 17 | $anyhalf));`;
    const record = [
      '        $ct = (uint64)((struct nft_chain *)$priv)->table;',
      half('$ct'),
      '        $tn = (uint64)((struct nft_table *)$ct)->name;',
      half('$tn'),
      '        $cn = (uint64)((struct nft_chain *)$priv)->name;',
      half('$cn'),
      '        printf("C %lu -1 %d %lx %lx %lx %lx %lx %lx %lx %lx\\n", $s * 64 + $i, ((struct nft_table *)$ct)->family,',
      '               *(uint64 *)($tn), *(uint64 *)($tn + 8), *(uint64 *)($tn + 16), *(uint64 *)($tn + 24),',
      '               *(uint64 *)($cn), *(uint64 *)($cn + 8), *(uint64 *)($cn + 16), *(uint64 *)($cn + 24));',
    ].join('\n');
    // The netdev walk's entry, right after its D record: the same read, as a c record (no position).
    const devRecord = [
      '$ct = (uint64)((struct nft_chain *)*(uint64 *)($e + 8 + $i * 16 + 8))->table;',
      half('$ct'),
      '        $tn = (uint64)((struct nft_table *)$ct)->name;',
      half('$tn'),
      '        $cn = (uint64)((struct nft_chain *)*(uint64 *)($e + 8 + $i * 16 + 8))->name;',
      half('$cn'),
      '        printf("c %d %lx %lx %lx %lx %lx %lx %lx %lx\\n", ((struct nft_table *)$ct)->family,',
      '               *(uint64 *)($tn), *(uint64 *)($tn + 8), *(uint64 *)($tn + 16), *(uint64 *)($tn + 24),',
      '               *(uint64 *)($cn), *(uint64 *)($cn + 8), *(uint64 *)($cn + 16), *(uint64 *)($cn + 24));',
    ].join('\n');
    expect(filled).toBe(byLine(t, (l, i) => (i === names ? record : i === netdevNames ? `        ${devRecord}` : l === '  /* NFT_CHAIN_INIT */' ? '  $anyhalf = 1 - (((((uint64)curtask >> 47) & 0x1ffff) + 1) >> 17);' : l === '  /* NFT_CHAIN_WALK */' ? '  ' : undefined)));
  });
  it('the kernel-half mask, evaluated as BPF does (u64, logical shifts): a word outside the top 2^47 bytes reads as 0 under 4-level paging', () => {
    // The arithmetic of kernelHalfOnly and CHAIN_INIT, as BigInt: addresses from the 6.1 guest's
    // WARNING (0x000fffffc0000000), x86-64 4-level slab and text, 5-level direct map, user, null.
    const M = (1n << 64n) - 1n;
    const keep = (v: bigint, anyhalf: bigint) => (v & ((0n - ((((v >> 47n) & 0x1ffffn) + 1n) >> 17n | anyhalf)) & M));
    const anyhalf = (task: bigint) => 1n - ((((task >> 47n) & 0x1ffffn) + 1n) >> 17n);
    // The running task's struct: slab, as the chains are. x86-64 4-level direct map; 5-level's;
    // arm64's linear map (48-bit VA: below 0xffff8000…).
    const task4 = 0xffff888006480000n, task5 = 0xff11000006480000n, taskArm = 0xffff000012340000n;
    expect(anyhalf(task4)).toBe(0n);
    expect(anyhalf(task5)).toBe(1n);
    expect(anyhalf(taskArm)).toBe(1n);
    // What struct net would have said for the first namespace: init_net is in the kernel image,
    // 0xffffffff8…, under either paging: the mask would be on under 5-level paging too.
    expect(anyhalf(0xffffffff82a4b0c0n)).toBe(0n);
    expect(CHAIN_INIT).toContain('curtask');
    for (const v of [0xffff888006480000n, 0xffffffffc0a01000n, 0xffff800000000000n]) expect(keep(v, anyhalf(task4))).toBe(v);
    for (const v of [0x000fffffc0000000n, 0x000fffffc0000200n, 0x0000800000000000n, 0x00007ffffffff000n, 0x8000000000000000n, 0xff11000006480000n, 0n]) expect(keep(v, anyhalf(task4))).toBe(0n);
    for (const v of [0xff11000006480000n, 0x000fffffc0000000n, 0xffffffffc0a01000n]) expect(keep(v, anyhalf(task5))).toBe(v);
    for (const v of [0xffff000012345678n, 0xffff800008000000n]) expect(keep(v, anyhalf(taskArm))).toBe(v);
  });
  it('with nf_nat callbacks: the walk after the loop tests each family\'s own addresses; NAT chains named only with nft_nat_do_chain', () => {
    const s = { chain: [], nat4: ['ffffffffc0b01000', 'ffffffffc0b02000'], nat6: [], natChain: null };
    const filled = fillNfHooks(t, s);
    const walk = filled.slice(filled.indexOf('$t = (uint64)0;'), filled.indexOf('clear(@natp); clear(@natw);'));
    expect(walk).toContain('if ($fn == (uint64)0xffffffffc0b01000 || $fn == (uint64)0xffffffffc0b02000) { @natp[$t]');
    expect(walk).toContain('if (0) { @natp[$t]'); // no IPv6 nf_nat callback: never a match
    expect(walk).not.toContain('printf("C ');
    expect(filled).not.toContain('NFT_CHAIN_NAMES');
    const named = fillNfHooks(t, { ...s, natChain: 'ffffffffc0b09000' });
    expect(named).toContain('printf("C %lu %lu %d %lx %lx %lx %lx %lx %lx %lx %lx\\n", $w, $y, ((struct nft_table *)$ct)->family,');
    expect(named).toContain('$ct = (uint64)((struct nft_chain *)$nch)->table;');
  });
  it('the x_tables walk: the slot walk alone, a table walker\'s entry read as a struct xt_table in an X record, no chain code; legacy families only', () => {
    const walkers = ['ffffffff81f00010', 'ffffffff81f00020'];
    const p = xtNamesProgram(t, { mask: ALL_FAMILIES, shape: PLAIN, walkers });
    const record = [
      '        if ($fn == (uint64)0xffffffff81f00010 || $fn == (uint64)0xffffffff81f00020) {',
      '          printf("X %lu %s %d %s\\n", $s * 64 + $i, ksym($fn), ((struct xt_table *)$priv)->af, ((struct xt_table *)$priv)->name);',
      '        }',
    ].join('\n');
    expect(p.text).toBe(byLine(t, (l, i) => (i >= netdev && i <= netdevEnd ? null : i === names ? record
      : l === '  /* NFT_CHAIN_INIT */' || l === '  /* NFT_CHAIN_WALK */' ? '  ' : undefined)));
    // ipv4, ipv6 and arp (1 | 2 | 4): bridge's ebtables and netdev have no xt_table behind their entries.
    expect(p.params).toEqual(['7']);
    expect(xtNamesProgram(t, { mask: 1, shape: PLAIN, walkers }).params).toEqual(['1']);
    // Addresses only: nothing else can reach the program's text, and none is no walk at all.
    expect(() => xtNamesProgram(t, { mask: 1, shape: PLAIN, walkers: ['0x1; exit()'] })).toThrow(/16 hex digits/);
    expect(() => xtNamesProgram(t, { mask: 1, shape: PLAIN, walkers: [] })).toThrow(/one at least/);
  });
  it('the flowtable walk: the netdev walk alone, a flowtable hook\'s entry taken back to its struct nft_flowtable in an F record; addresses and offset checked', () => {
    const hooks = ['ffffffffc0c01000', 'ffffffffc0c02000'];
    const p = flowtablesProgram(t, { shape: PLAIN, hooks, dataOffset: 128 });
    const record = [
      '        if (*(uint64 *)($e + 8 + $i * 16) == (uint64)0xffffffffc0c01000 || *(uint64 *)($e + 8 + $i * 16) == (uint64)0xffffffffc0c02000) {',
      '          $ft = *(uint64 *)($e + 8 + $i * 16 + 8) - 128;',
      '          $fb = (uint64)((struct nft_flowtable *)$ft)->table;',
      '          $fm = (uint64)((struct nft_flowtable *)$ft)->name;',
      '          $fk = (uint64)((struct nft_table *)$fb)->name;',
      '          printf("F %d %s %s\\n", ((struct nft_table *)$fb)->family, str($fk), str($fm));',
      '        }',
    ].join('\n');
    expect(p.text).toBe(byLine(t, (l, i) => (i >= slots && i < netdev ? null : i === netdevNames ? record
      : l === '  /* NFT_CHAIN_INIT */' || l === '  /* NFT_CHAIN_WALK */' ? '  ' : undefined)));
    expect(p.params).toEqual(['16']);
    expect(flowtableCodeMembers()).toEqual(new Map([['nft_flowtable', ['table', 'name']], ['nft_table', ['name', 'family']]]));
    expect(() => flowtablesProgram(t, { shape: PLAIN, hooks: ['0x1; exit()'], dataOffset: 128 })).toThrow(/16 hex digits/);
    expect(() => flowtablesProgram(t, { shape: PLAIN, hooks: [], dataOffset: 128 })).toThrow(/one at least/);
    expect(() => flowtablesProgram(t, { shape: PLAIN, hooks, dataOffset: 0 })).toThrow(/no offset/);
  });
  it('the hook listing server: no parameter, the families it serves fixed in its text', () => {
    const p = nfHooksServerProgram(t, { symbols: null, serves: 1, token: '12345' });
    expect(p.params).toEqual([]);
    expect(p.text).toContain('  while ($s < 5) {');
    expect(p.text).toContain(`strncmp(comm, "${REQUEST_PREFIX}12345", ${REQUEST_PREFIX.length + 5}) == 0/ {\n  $mask = (uint64)1;`);
    expect(p.text).not.toContain('if (($mask & 16) != 0) {');
    expect(p.text).not.toMatch(/ksym\(|\$1\b/);
    expect(nfHooksServerProgram(t, { symbols: null, serves: ALL_FAMILIES, token: '12345' }).text).toContain('  while ($s < 18) {');
  });
});

describe('adaptation to the kernel (programs/adapt.ts)', () => {
  it('without kfree_skb\'s reason field, each args->reason reads NO_REASON', () => {
    const t = bt('kfree_skb_syn');
    expect(t).toContain('args->reason');
    expect(adaptProgram(t, { ...PLAIN, kfreeSkbReason: false })).toBe(t.split('args->reason').join(`(${NO_REASON})`));
    expect(adaptProgram(t, PLAIN)).toBe(t);
  });
  it('without a netdev hook head, its read is 0 (the listing sees no hooks there)', () => {
    const t = bt('nf_hooks');
    expect(t).toContain('(uint64)$dev->nf_hooks_egress');
    const p = adaptProgram(t, { ...PLAIN, netdev: { ingress: true, egress: false } });
    expect(p).toBe(t.split('(uint64)$dev->nf_hooks_egress').join('(uint64)0'));
  });
});
