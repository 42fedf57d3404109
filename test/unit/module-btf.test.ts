/**
 * nf_tables chains named where nf_tables is a module (issue 28): its BTF is split on the kernel's
 * (parsers/btf.ts reads it so), the chain code's module structs are laid out there
 * (kernel/module-btf.ts), and the fill reads them at those offsets (programs/nf_hooks.ts); a listing
 * server built before a module loaded keeps naming what it can (kernel/nft-chains.ts serverChainState).
 * The split BTF is a real one: nf_tables.ko's .BTF section from a Debian kernel in nfscope's cache,
 * over that kernel's vmlinux BTF (what the guest's /sys/kernel/btf/nf_tables and vmlinux hold).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Btf } from '../../src/parsers/btf.js';
import { chainCodeMembers, fillNfHooks, xtCodeMembers, xtNamesProgram } from '../../src/programs/nf_hooks.js';
import type { BpfShape } from '../../src/programs/adapt.js';

const SHAPE: BpfShape = { kfreeSkbReason: true, nfConn: { from: 'btf' }, net: { from: 'bpftrace' }, netdev: { ingress: true, egress: true }, structs: [], notes: [] };
import { serverChainState } from '../../src/kernel/nft-chains.js';
import type { StructLayout } from '../../src/parsers/struct-layout.js';
import { ROOT } from '../helpers/sys.js';

const CACHE = '/var/cache/nfscope/kernels';
/** A cached Debian kernel with its vmlinux BTF and a modular nf_tables: the newest 6.x found. */
const kernel = (existsSync(CACHE) ? readdirSync(CACHE) : []).sort().reverse().map((d) => {
  const btf = (readdirSync(join(CACHE, d)).find((f) => f.endsWith('.btf')));
  const version = btf?.replace(/^vmlinux-|\.btf$/g, '');
  const ko = version && join(CACHE, d, 'root/lib/modules', version, 'kernel/net/netfilter/nf_tables.ko');
  return btf && ko && existsSync(ko) && /^6\./.test(version) ? { btf: join(CACHE, d, btf), ko, version } : null;
}).find(Boolean);
const objcopy = ['/usr/bin/objcopy'].find(existsSync);
const why = !kernel ? `no cached Debian 6.x kernel with vmlinux BTF and nf_tables.ko under ${CACHE} (a micro-VM boot caches one)` : !objcopy ? 'no objcopy (binutils)' : null;
if (why) console.log(`module-btf: the split BTF case skipped: ${why}`);

/** The .ko's .BTF section, as the kernel exposes it at /sys/kernel/btf/MODULE. */
function moduleBtf(ko: string): Buffer {
  const dir = mkdtempSync(join(tmpdir(), 'nfscope-test-btf-'));
  try {
    // A non-alloc section: objcopy -O binary writes it only when marked alloc.
    execFileSync(objcopy!, ['-O', 'binary', '--only-section=.BTF', '--set-section-flags', '.BTF=alloc', ko, join(dir, 'btf')]);
    return readFileSync(join(dir, 'btf'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe.skipIf(why !== null)(`split BTF: nf_tables.ko of ${kernel?.version ?? 'a cached kernel'}`, () => {
  it('reads the module\'s own structs, their members\' base types and names through the base', () => {
    const base = Btf.parse(readFileSync(kernel!.btf));
    const mod = Btf.parse(moduleBtf(kernel!.ko), base, '/sys/kernel/btf/nf_tables');
    // The premise: the kernel's own BTF has no struct nft_chain; the module's has.
    expect(base.structId('nft_chain')).toBeNull();
    expect(mod.structId('nft_chain')).not.toBeNull();
    // A base struct is still found through the module's BTF.
    expect(mod.structId('net_device')).toBe(base.structId('net_device'));
    const want = chainCodeMembers();
    const chain = mod.layout('nft_chain', want.get('nft_chain')!);
    const table = mod.layout('nft_table', want.get('nft_table')!);
    expect(chain.source).toBe('/sys/kernel/btf/nf_tables');
    const by = (l: StructLayout) => Object.fromEntries(l.members.map((m) => [m.name, { size: m.size, type: m.type, signed: m.signed, bits: m.bits }]));
    // The kernel's definitions (include/net/netfilter/nf_tables.h, 6.1): in nft_chain, struct
    // nft_table *table and char *name; in nft_table, char *name, and `u16 family:6, flags:8,
    // genmask:2` right after `u32 use`: a 6-bit field at the start of its u16, so its first byte.
    expect(by(chain)).toEqual({ table: { size: 8, type: 'struct nft_table *', signed: undefined, bits: undefined }, name: { size: 8, type: 'void *', signed: undefined, bits: undefined } });
    expect(by(table)).toEqual({ name: { size: 8, type: 'void *', signed: undefined, bits: undefined }, family: { size: 1, type: 'short unsigned int', signed: false, bits: { shift: 0, width: 6 } } });
    expect(table.members[1]!.offset).toBe(mod.layout('nft_table', ['use']).members[0]!.offset + 4);
    for (const l of [chain, table]) for (const m of l.members) expect(m.offset + m.size).toBeLessThanOrEqual(l.size);
    // Pointers are 8-aligned in the kernel's layout.
    for (const m of [...chain.members, ...table.members].filter((x) => x.size === 8)) expect(m.offset % 8).toBe(0);
  });
});

describe.skipIf(why !== null)(`split BTF: x_tables.ko of ${kernel?.version ?? 'a cached kernel'}`, () => {
  it('struct xt_table: its family byte and its inline name, read as the string at its address', () => {
    const base = Btf.parse(readFileSync(kernel!.btf));
    const xt = Btf.parse(moduleBtf(kernel!.ko.replace(/nf_tables\.ko$/, 'x_tables.ko')), base, '/sys/kernel/btf/x_tables');
    expect(base.structId('xt_table')).toBeNull();
    const want = xtCodeMembers();
    expect(want.get('xt_table')).toEqual(['af', 'name']);
    // include/linux/netfilter/x_tables.h: u_int8_t af; ... const char name[XT_TABLE_MAXNAMELEN] (32).
    const l = xt.layout('xt_table', want.get('xt_table')!);
    expect(l.members.map((m) => ({ name: m.name, size: m.size, type: m.type, signed: m.signed }))).toEqual([
      { name: 'af', size: 1, type: 'unsigned char', signed: false },
      { name: 'name', size: 32, type: 'char[32]', signed: undefined },
    ]);
    const text = xtNamesProgram(readFileSync(join(ROOT, 'bpf/nf_hooks.bt'), 'utf8'), { mask: 1, shape: SHAPE, walkers: ['ffffffff81000010'], layouts: [l] }).text;
    expect(text.replace(/\/\*[\s\S]*?\*\//g, '')).not.toMatch(/struct xt_table/);
    expect(text).toContain(`(*(uint8 *)((uint64)($priv) + ${l.members[0]!.offset}))`);
    expect(text).toContain(`str((uint64)($priv) + ${l.members[1]!.offset}, 32)`);
  });
});

describe('the chain code read at module BTF offsets (programs/nf_hooks.ts)', () => {
  const template = readFileSync(join(ROOT, 'bpf/nf_hooks.bt'), 'utf8');
  const symbols = { chain: ['ffffffff81000010'], nat4: ['ffffffff81000020'], nat6: [], natChain: 'ffffffff81000030' };
  const layouts: StructLayout[] = [
    { struct: 'nft_chain', size: 128, source: '/sys/kernel/btf/nf_tables', members: [{ name: 'table', offset: 32, size: 8, type: 'struct nft_table *' }, { name: 'name', offset: 80, size: 8, type: 'void *' }] },
    // family as 6.1's and 6.12's BTF lay it out: `u16 family:6` at the start of its u16 (byte 372).
    { struct: 'nft_table', size: 400, source: '/sys/kernel/btf/nf_tables', members: [{ name: 'name', offset: 384, size: 8, type: 'void *' }, { name: 'family', offset: 372, size: 1, type: 'short unsigned int', signed: false, bits: { shift: 0, width: 6 } }] },
  ];
  it('the module structs are no longer named; the kernel\'s own stay typed', () => {
    const code = (p: string) => p.replace(/\/\*[\s\S]*?\*\//g, '');
    const typed = code(fillNfHooks(template, symbols));
    const raw = code(fillNfHooks(template, symbols, layouts));
    expect(typed).toMatch(/\(struct nft_chain \*\)/);
    expect(raw).not.toMatch(/struct nft_(chain|table)/);
    expect(raw).toMatch(/\(struct nf_hook_entries \*\)/);
    // The reads at the offsets given: table at 32, the chain's name at 80, the table's at 384, family
    // the low 6 bits of byte 372.
    expect(raw).toContain('$ct = (uint64)(*(uint64 *)((uint64)($priv) + 32));');
    expect(raw).toContain('$cn = (uint64)(*(uint64 *)((uint64)($priv) + 80));');
    expect(raw).toContain('$tn = (uint64)(*(uint64 *)((uint64)($ct) + 384));');
    expect(raw).toContain('(((*(uint8 *)((uint64)($ct) + 372))) & 0x3f)');
    // Without layouts the fill is as before.
    expect(code(fillNfHooks(template, symbols, []))).toBe(typed);
  });
  it('the members it reads are the code\'s own', () => {
    const m = chainCodeMembers();
    expect(m.get('nft_chain')).toEqual(['table', 'name']);
    expect(m.get('nft_table')).toEqual(['name', 'family']);
    expect(m.get('nf_nat_lookup_hook_priv')).toEqual(['entries']);
  });
});

describe('a listing server against the kernel now (kernel/nft-chains.ts serverChainState)', () => {
  const s = (chain: string[], nat4: string[] = []) => ({ chain, nat4, nat6: [], natChain: null });
  it('same addresses: same; one gone: moved; only new ones: loaded since', () => {
    expect(serverChainState(s(['a1', 'a2']), s(['a1', 'a2']))).toBe('same');
    expect(serverChainState(null, null)).toBe('same');
    // nf_tables reloaded: its callbacks moved, the server's addresses are stale.
    expect(serverChainState(s(['a1', 'a2']), s(['b1', 'b2']))).toBe('moved');
    expect(serverChainState(s(['a1']), null)).toBe('moved');
    // Loaded after the server started (the lab's first iptables-nft rule loads nf_tables).
    expect(serverChainState(null, s(['a1']))).toBe('loaded-since');
    expect(serverChainState(s(['a1']), s(['a1'], ['n1']))).toBe('loaded-since');
  });
});
