/**
 * Kernels from any Debian suite (issue 12): the --kernel spec, the package
 * resolution over real `apt-cache show` output of bullseye, trixie and sid
 * (test/fixtures/apt/, with meta.json), and the bpftrace program adaptation to
 * a kernel without module BTF or a kfree_skb reason, on the struct layout read
 * from Debian 5.10's and 6.1's real debug info (test/fixtures/struct-layout/).
 */
import { accessSync, constants, existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseKernelSpec } from '../../src/lib/kernel-spec.js';
import { UsageError } from '../../src/lib/errors.js';
import { resolveKernelPackage } from '../../src/vm/kernel.js';
import { sourcesList } from '../../src/vm/apt.js';
import { adaptProgram, ctMembers, lowerStructAccesses, rawRead, type BpfShape } from '../../src/programs/adapt.js';
import { parseStructLayouts } from '../../src/parsers/struct-layout.js';
import { NO_REASON } from '../../src/model/trace-syn.js';
import { ROOT } from '../helpers/sys.js';

const F = (...p: string[]) => join(ROOT, 'test/fixtures', ...p);

describe('--kernel', () => {
  it('takes the aliases, SUITE/PACKAGE and package names', () => {
    expect(parseKernelSpec('5.10')).toMatchObject({ kind: 'alias', suite: 'bullseye', package: 'linux-image-amd64' });
    expect(parseKernelSpec('6.1')).toMatchObject({ kind: 'alias', suite: 'bookworm' });
    expect(parseKernelSpec('6.12')).toMatchObject({ kind: 'alias', suite: 'trixie' });
    expect(parseKernelSpec('latest')).toMatchObject({ kind: 'alias', suite: 'sid' });
    expect(parseKernelSpec('trixie/linux-image-6.12.117+deb13-amd64')).toMatchObject({ kind: 'suite', suite: 'trixie', package: 'linux-image-6.12.117+deb13-amd64' });
    expect(parseKernelSpec('unstable/linux-image-amd64')).toMatchObject({ kind: 'suite', suite: 'sid' });
    expect(parseKernelSpec('linux-image-6.12-amd64')).toMatchObject({ kind: 'package', package: 'linux-image-6.12-amd64' });
  });
  it.each(['5.1', '7', 'jessie/linux-image-amd64', 'sid/bash', 'linux-image-amd64/../x', '../sid', 'bash', '', 'latest ', 'sid/'])('refuses %j with a usage error', (k) => {
    expect(() => parseKernelSpec(k)).toThrow(UsageError);
  });
  it('writes sources signed by the archive keyring, amd64 only, with the security suite for stable releases', () => {
    expect(sourcesList('bullseye')).toBe(
      'deb [arch=amd64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bullseye main\n' +
        'deb [arch=amd64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian-security bullseye-security main\n',
    );
    expect(sourcesList('sid')).toMatch(/^deb \[arch=amd64 signed-by=\S+\] http:\/\/deb\.debian\.org\/debian sid main\n$/);
    // The micro-VM's qemu on a Debian 12 host (vm/emulator.ts): backports alone, signed the same way.
    expect(sourcesList('bookworm-backports')).toBe('deb [arch=amd64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm-backports main\n');
  });
});

/** apt-cache show over the captured stanzas of one suite. */
const show = (suite: string) => async (name: string) => {
  const p = F('apt', suite, `${name}.txt`);
  return existsSync(p) ? readFileSync(p, 'utf8') : null;
};

describe('kernel package resolution (real apt-cache output)', () => {
  it('bullseye: the metapackage leads to linux-image-5.10.0-46-amd64, one .deb', async () => {
    expect(await resolveKernelPackage(show('bullseye'), 'linux-image-amd64')).toEqual({ package: 'linux-image-5.10.0-46-amd64', parts: ['linux-image-5.10.0-46-amd64'], debVersion: '5.10.262-1' });
  });
  it('trixie: linux-image-6.12.117+deb13-amd64', async () => {
    expect(await resolveKernelPackage(show('trixie'), 'linux-image-amd64')).toMatchObject({ package: 'linux-image-6.12.117+deb13-amd64', parts: ['linux-image-6.12.117+deb13-amd64'] });
  });
  it('sid (7.x): the image package is empty, the kernel is its binary, modules and base parts', async () => {
    expect(await resolveKernelPackage(show('sid'), 'linux-image-amd64')).toEqual({
      package: 'linux-image-7.2.13+deb14-amd64',
      parts: ['linux-binary-7.2.13+deb14-amd64', 'linux-modules-7.2.13+deb14-amd64', 'linux-base-7.2.13+deb14-amd64'],
      debVersion: '7.2.13-1',
    });
  });
  it('an unknown package is a usage error', async () => {
    await expect(resolveKernelPackage(show('sid'), 'linux-image-9.9-amd64')).rejects.toThrow(/unknown kernel package 'linux-image-9.9-amd64'/);
  });
});

const layoutOf = (kernel: string) => {
  const { layouts, errors } = parseStructLayouts(readFileSync(F('struct-layout', kernel, 'nf_conn.jsonl'), 'utf8'));
  expect(errors).toEqual([]);
  return layouts[0]!;
};

describe('bpftrace programs adapted to the kernel', () => {
  const ctLife = readFileSync(join(ROOT, 'bpf/ct_life.bt'), 'utf8');
  const ctSyn = readFileSync(join(ROOT, 'bpf/ct_syn.bt'), 'utf8');
  const kfree = readFileSync(join(ROOT, 'bpf/kfree_skb_syn.bt'), 'utf8');

  it('finds every struct nf_conn read the programs make, and none in comments', () => {
    expect(ctMembers(ctLife).sort()).toEqual(['ct_net.net', 'status', 'tuplehash[0].tuple.dst.protonum', 'tuplehash[0].tuple.dst.u.all']);
    expect(ctMembers(ctSyn)).toEqual(['status']);
    expect(ctMembers(kfree)).toEqual([]);
  });

  it('the layout differs between 5.10 and 6.1 (so it is read, not written down)', () => {
    const a = layoutOf('5.10.0-46-amd64');
    const b = layoutOf('6.1.0-56-amd64');
    expect(a.members.find((m) => m.name === 'ct_net.net')!.offset).not.toBe(b.members.find((m) => m.name === 'ct_net.net')!.offset);
    expect(a.size).not.toBe(b.size);
  });

  it('5.10: every nf_conn read becomes a sized read at the offset from the debug info', () => {
    const layout = layoutOf('5.10.0-46-amd64');
    const shape: BpfShape = { kfreeSkbReason: false, nfConn: { from: 'debuginfo', layout }, net: { from: 'bpftrace' }, netdev: null, structs: [], notes: [] };
    const out = adaptProgram(ctLife, shape);
    expect(out).not.toMatch(/struct nf_conn/);
    expect(out).not.toMatch(/args->reason/);
    expect(out).toContain(`@drop_reason[cpu] = (${NO_REASON});`);
    const net = layout.members.find((m) => m.name === 'ct_net.net')!;
    expect(out).toContain(`((struct net *)(*(uint64 *)((uint64)($ct) + ${net.offset})))->ns.inum`);
    const st = layout.members.find((m) => m.name === 'status')!;
    expect(out).toContain(`(*(uint64 *)((uint64)($ct) + ${st.offset})) & 8`);
    const port = layout.members.find((m) => m.name === 'tuplehash[0].tuple.dst.u.all')!;
    expect(out).toContain(`(*(uint16 *)((uint64)($ct) + ${port.offset}))`);
  });

  it('a kernel with BTF and a reason field gets the program as it is', () => {
    const shape: BpfShape = { kfreeSkbReason: true, nfConn: { from: 'btf' }, net: { from: 'bpftrace' }, netdev: null, structs: [], notes: [] };
    for (const p of [ctLife, ctSyn, kfree, readFileSync(join(ROOT, 'bpf/nf_hooks.bt'), 'utf8')]) expect(adaptProgram(p, shape)).toBe(p);
  });

  it('a kernel whose net_device has no egress hook head (5.10: it came in 5.16) reads it as no hooks, and only there', () => {
    const hooks = readFileSync(join(ROOT, 'bpf/nf_hooks.bt'), 'utf8');
    const base: BpfShape = { kfreeSkbReason: true, nfConn: { from: 'btf' }, net: { from: 'bpftrace' }, netdev: { ingress: true, egress: false }, structs: [], notes: [] };
    const out = adaptProgram(hooks, base);
    expect(out.replace(/\/\*[\s\S]*?\*\//g, '')).not.toMatch(/->nf_hooks_egress/);
    expect(out).toContain('if ($d != 0) { $e = (uint64)0; }');
    expect(out).toContain('$e = (uint64)$dev->nf_hooks_ingress;');
    expect(adaptProgram(hooks, { ...base, netdev: { ingress: true, egress: true } })).toBe(hooks);
  });

  it('a member missing from the layout is an error, never a guess', () => {
    const layout = { ...layoutOf('5.10.0-46-amd64'), members: [] };
    expect(() => lowerStructAccesses(ctSyn, layout)).toThrow(/struct nf_conn\.status: not in the layout/);
  });

  it('parses ct_types.py errors as errors', () => {
    const r = parseStructLayouts('{"error": "/x: could not get debugging information"}\nnot json\n{"struct": "nf_conn"}\n');
    expect(r.layouts).toEqual([]);
    expect(r.errors).toHaveLength(3);
  });
});

describe("struct net from the kernel's BTF (parsers/btf.ts)", () => {
  const hostBtf = '/sys/kernel/btf/vmlinux';
  it.skipIf(!existsSync(hostBtf))('this host kernel: every struct net member the programs read, at plausible offsets inside the struct', async () => {
    const { Btf } = await import('../../src/parsers/btf.js');
    const programs = ['nf_hooks.bt', 'ct_syn.bt', 'kfree_skb_syn.bt', 'ct_life.bt'].map((f) => readFileSync(join(ROOT, 'bpf', f), 'utf8'));
    const { structMembers } = await import('../../src/programs/adapt.js');
    const members = [...new Set(programs.flatMap((p) => structMembers(p, 'net')))];
    expect(members.sort()).toEqual(['dev_base_head.next', 'loopback_dev', 'nf', 'ns.inum']);
    const layout = Btf.parse(readFileSync(hostBtf)).layout('net', [...members, 'nf.hooks_ipv4[0]', 'nf.hooks_ipv4[1]', 'nf.hooks_ipv4[4]', 'nf.hooks_ipv6[0]']);
    for (const m of layout.members) expect(m.offset + m.size, m.name).toBeLessThanOrEqual(layout.size);
    const at = (n: string) => layout.members.find((m) => m.name === n)!;
    // The hook slots are consecutive pointers: ipv4[0..4], then ipv6.
    expect(at('nf.hooks_ipv4[1]').offset - at('nf.hooks_ipv4[0]').offset).toBe(8);
    expect(at('nf.hooks_ipv6[0]').offset - at('nf.hooks_ipv4[4]').offset).toBe(8);
    expect(at('nf.hooks_ipv4[0]').type).toBe('struct nf_hook_entries *');
    expect(at('ns.inum')).toMatchObject({ size: 4 });
    expect(at('nf')).toMatchObject({ type: 'struct netns_nf' });
    expect(at('nf.hooks_ipv4[0]').offset).toBeGreaterThanOrEqual(at('nf').offset);
  });
  it('lowers the listing program\'s struct net reads, and leaves no struct net cast behind', () => {
    const layout = { struct: 'net', size: 4992, source: 'test', members: [
      { name: 'ns.inum', offset: 280, size: 4, type: 'unsigned int' },
      { name: 'nf', offset: 3192, size: 264, type: 'struct netns_nf' },
      { name: 'loopback_dev', offset: 656, size: 8, type: 'struct net_device *' },
      { name: 'dev_base_head.next', offset: 448, size: 8, type: 'struct list_head *' },
    ] };
    const out = lowerStructAccesses(readFileSync(join(ROOT, 'bpf/nf_hooks.bt'), 'utf8'), layout);
    expect(out).not.toMatch(/\(struct net \*\)\$net\)->/);
    expect(out).toContain('$nf = (*((struct netns_nf *)((uint64)($net) + 3192)));');
    expect(out).toContain('printf("N %lu\\n", (*(uint32 *)((uint64)($net) + 280)));');
    expect(out).toContain('$lo = (*(uint64 *)((uint64)($net) + 656));');
  });
});

describe('every struct read at the BTF\'s offsets (programs/adapt.ts: a tracer that names no struct compiles seconds sooner)', () => {
  const read = (f: string) => readFileSync(join(ROOT, 'bpf', f), 'utf8');
  const layouts = [
    { struct: 'sk_buff', size: 232, source: 'test', members: [
      { name: 'dev', offset: 16, size: 8, type: 'struct net_device *' },
      { name: 'head', offset: 200, size: 8, type: 'unsigned char *' },
      { name: 'network_header', offset: 184, size: 2, type: 'short unsigned int' },
      { name: 'transport_header', offset: 182, size: 2, type: 'short unsigned int' },
      { name: '_nfct', offset: 104, size: 8, type: 'long unsigned int' },
    ] },
    { struct: 'nf_hook_state', size: 48, source: 'test', members: [
      { name: 'hook', offset: 0, size: 1, type: 'unsigned char' },
      { name: 'net', offset: 32, size: 8, type: 'struct net *' },
    ] },
    { struct: 'net_device', size: 2368, source: 'test', members: [{ name: 'nd_net.net', offset: 1280, size: 8, type: 'struct net *' }] },
    { struct: 'net', size: 4608, source: 'test', members: [{ name: 'ns.inum', offset: 144, size: 4, type: 'unsigned int' }] },
  ];
  it('ct_syn.bt: nested reads lowered bases first, and only struct nf_conn left named', () => {
    const out = lowerStructAccesses(read('ct_syn.bt'), layouts);
    // The netns of a hook's state: the state's net pointer read raw, then that net's inode.
    expect(out).toContain('if ((*(uint32 *)((uint64)((*(uint64 *)((uint64)($st) + 32))) + 144)) == $2) {');
    // A device's netns, two pointers deep.
    expect(out).toContain('(*(uint32 *)((uint64)((*(uint64 *)((uint64)($dev) + 1280))) + 144)) == $2');
    expect(out).toContain('$nh = $head + (*(uint16 *)((uint64)($skb) + 184));');
    expect(out).toContain('$ct = (*(uint64 *)((uint64)(arg0) + 104)) & 0xfffffffffffffff8;');
    expect(out).toContain('nsecs, func, (*(uint8 *)((uint64)($st) + 0)), arg1);');
    expect([...new Set([...out.replace(/\/\*[\s\S]*?\*\//g, '').matchAll(/struct (\w+)/g)].map((m) => m[1]))]).toEqual(['nf_conn']);
  });
  it('an int member keeps its sign (a hook priority of -200 is not 4294967096)', () => {
    const ops = { struct: 'nf_hook_ops', size: 72, source: 'test', members: [{ name: 'priority', offset: 64, size: 4, type: 'int' }] };
    expect(lowerStructAccesses('printf("%d", ((struct nf_hook_ops *)$o)->priority);', ops)).toBe('printf("%d", (*(int32 *)((uint64)($o) + 64)));');
  });
  it('a member nfscope cannot read raw is refused, never read at a guessed size', async () => {
    const { rawRead } = await import('../../src/programs/adapt.js');
    expect(rawRead({ name: 'name', offset: 0, size: 16, type: 'kind 3' }, '0')).toBeNull();
    expect(rawRead({ name: 'x', offset: 0, size: 8, type: 'double' }, '0')).toBeNull();
    expect(() => lowerStructAccesses('((struct sk_buff *)$s)->name', { struct: 'sk_buff', size: 232, source: 'test', members: [{ name: 'name', offset: 0, size: 16, type: 'kind 3' }] })).toThrow(/does not read raw/);
  });
  it.skipIf(!existsSync('/sys/kernel/btf/vmlinux'))('this host kernel: its BTF lays out every struct the bundled programs read, a bitfield refused', async () => {
    const { Btf } = await import('../../src/parsers/btf.js');
    const { structsRead, structMembers, rawRead } = await import('../../src/programs/adapt.js');
    const { BUNDLED_PROGRAMS } = await import('../../src/programs/templates.js');
    const btf = Btf.parse(readFileSync('/sys/kernel/btf/vmlinux'));
    const programs = BUNDLED_PROGRAMS.map((p) => read(`${p}.bt`));
    const names = [...new Set(programs.flatMap(structsRead))].filter((n) => n !== 'nf_conn').sort();
    expect(names).toEqual(['ipv6hdr', 'net', 'net_device', 'nf_hook_entries', 'nf_hook_ops', 'nf_hook_state', 'sk_buff']);
    const host = names.map((n) => btf.layout(n, [...new Set(programs.flatMap((p) => structMembers(p, n)))]));
    // Every member is read raw but follow's ipv6hdr addresses (arrays, for ntop), and struct net's nf
    // (read whole, as a typed value).
    const refused = host.flatMap((l) => l.members.filter((m) => rawRead(m, '0') === null).map((m) => `${l.struct}.${m.name}`));
    expect(refused).toEqual(['ipv6hdr.saddr.in6_u.u6_addr8', 'ipv6hdr.daddr.in6_u.u6_addr8']);
    // Signs from the BTF's encoding: a hook priority is a signed int, an inode number unsigned.
    const at = (s: string, m: string) => host.find((l) => l.struct === s)!.members.find((x) => x.name === m)!;
    expect(at('nf_hook_ops', 'priority')).toMatchObject({ size: 4, signed: true });
    expect(at('net', 'ns.inum')).toMatchObject({ size: 4, signed: false });
    const lowerable = host.filter((l) => l.struct !== 'ipv6hdr');
    for (const p of ['ct_syn', 'ct_life', 'kfree_skb_syn']) {
      const named = [...lowerStructAccesses(read(`${p}.bt`), lowerable).replace(/\/\*[\s\S]*?\*\//g, '').matchAll(/struct (\w+)/g)].map((m) => m[1]);
      expect(named.filter((n) => n !== 'nf_conn'), p).toEqual([]);
    }
    // sk_buff's pkt_type is a 3-bit field: a whole-byte read of it would be wrong. It is given as its
    // byte, shifted and masked: the kernel marks that byte itself (__pkt_type_offset, PKT_TYPE_OFFSET).
    const [pkt, mark] = btf.layout('sk_buff', ['pkt_type', '__pkt_type_offset']).members;
    expect(pkt).toMatchObject({ offset: mark!.offset, size: 1, bits: { shift: 0, width: 3 }, signed: false });
    expect(rawRead(pkt!, '$skb + 128')).toBe('(((*(uint8 *)((uint64)$skb + 128))) & 0x7)');
    expect(rawRead({ ...pkt!, bits: { shift: 3, width: 2 } }, '$p')).toBe('(((*(uint8 *)((uint64)$p)) >> 3) & 0x3)');
    // A signed bitfield would need its sign spread by hand: not read raw.
    expect(rawRead({ ...pkt!, signed: true }, '$p')).toBeNull();
  });
});

describe('the BTF reader decodes only what a question reaches', () => {
  const cache = join(process.env.NFSCOPE_CACHE ?? '/var/cache/nfscope', 'kernels');
  // This kernel's BTF, and those of the kernels the micro-VM has fetched, where this user may read
  // the cache (root's: a user's run of test:unit lists only the host's).
  const readable = (p: string) => {
    try {
      accessSync(p, constants.R_OK);
      return true;
    } catch {
      return false;
    }
  };
  const cached = readable(cache) ? readdirSync(cache).filter((d) => readable(join(cache, d))).flatMap((d) =>
    readdirSync(join(cache, d)).filter((f) => f.endsWith('.btf')).map((f) => join(cache, d, f))) : [];
  const files = ['/sys/kernel/btf/vmlinux', ...cached].filter((f) => existsSync(f) && readable(f));
  if (files.length === 0) console.log('kernels: the BTF layout checks skipped: no readable BTF (/sys/kernel/btf/vmlinux: CONFIG_DEBUG_INFO_BTF)');
  it.skipIf(files.length === 0).each(files)('%s: hook slots, hook ops and net_device laid out as the kernel has them', async (file) => {
    const { Btf } = await import('../../src/parsers/btf.js');
    const btf = Btf.parse(readFileSync(file));
    const ops = btf.layout('nf_hook_ops', ['hook', 'priority']);
    expect(ops.members.map((m) => [m.size, m.type])).toEqual([[8, 'void *'], [4, 'int']]);
    const net = btf.layout('net', ['nf.hooks_ipv4[0]', 'nf.hooks_ipv4[4]', 'ns.inum']);
    expect(net.members[1]!.offset - net.members[0]!.offset).toBe(32);
    expect(net.members[0]!.type).toBe('struct nf_hook_entries *');
    expect(btf.layout('net_device', ['ifindex']).members[0]).toMatchObject({ size: 4, type: 'int' });
    expect(btf.structId('no_such_struct_in_any_kernel')).toBeNull();
  });
  it.skipIf(!existsSync('/sys/kernel/btf/vmlinux'))('a cut BTF is refused, not half read', async () => {
    const { Btf } = await import('../../src/parsers/btf.js');
    const buf = readFileSync('/sys/kernel/btf/vmlinux');
    const cut = Buffer.from(buf.subarray(0, 4096));
    expect(() => Btf.parse(cut)).toThrow(/run past/);
  });
});

describe('a drop on 5.10: no reason field, and nf_hook_slow frees the packet itself', () => {
  it('is attributed through the stack, the rule counter and the hook listing (real lab capture)', () => {
    const inputs = JSON.parse(readFileSync(F('lab', '5.10.0-46-amd64', 'inputs', 'inputs.json'), 'utf8'));
    expect(inputs.plain.drop).toMatchObject({ hook: 'LOCAL_IN', priority: 0, callback: 'nft_do_chain_ipv4', reason: null, reasonCode: null });
    expect(inputs.plain.drop.stack[0]).toMatch(/^kfree_skb\+/);
    expect(inputs.plain.drop.stack[1]).toMatch(/^nf_hook_slow\+/);
  });

  it('the same kernel\'s own function_graph trace (raw tracefs capture) shows it: nf_hook_slow runs the chain, then calls kfree_skb itself; no kfree_skb_reason exists', () => {
    const trace = readFileSync(F('function_graph', '5.10.0-46-amd64', 'syn-ipv4-iptables-with-trace-syn', 'trace.txt'), 'utf8').split('\n');
    // " 1)  python3-615   |               |  nf_hook_slow() {": the call, indented by depth, after the last '|'.
    const body = trace.map((l) => l.slice(l.lastIndexOf('|') + 1));
    const depth = (l: string) => l.search(/\S/);
    /** The calls made directly inside the call that opens at line i. */
    const children = (i: number) => {
      const d = depth(body[i]!);
      const end = body.findIndex((l, j) => j > i && depth(l) === d && /^\s*\}/.test(l));
      return body.slice(i + 1, end).filter((l) => depth(l) === d + 2 && !/^\s*\}/.test(l)).map((l) => l.trim().replace(/ \[\w+\]/, '').replace(/[(){};].*$/, ''));
    };
    const calls = body.flatMap((l, i) => (/^\s*nf_hook_slow\(\) \{$/.test(l) ? [children(i)] : []));
    // PRE_ROUTING's runs conntrack and lets the SYN on; LOCAL_IN's runs the chain and frees it.
    expect(calls).toContainEqual(['nft_do_chain', 'kfree_skb']);
    expect(trace.filter((l) => l.includes('kfree_skb_reason'))).toEqual([]);
  });
});

describe('which kernels need struct nf_conn from debug info (their real configs: test/fixtures/kconfig, scripts/capture/kconfig.sh)', () => {
  const dir = F('kconfig');
  const kernels = readdirSync(dir);
  it('the three Debian kernels the VM runs are there', () => {
    expect(kernels.map((k) => k.split('.').slice(0, 2).join('.').replace(/-.*$/, '')).sort()).toEqual(['5.10', '6.1', '6.12']);
  });
  it.each(kernels)('%s: only with nf_conntrack a module and no module BTF (5.10 of the matrix)', async (k) => {
    const { nfConnInNoBtf, parseKconfig } = await import('../../src/parsers/kconfig.js');
    expect(JSON.parse(readFileSync(join(dir, k, 'meta.json'), 'utf8')).kernel).toBe(k);
    expect(nfConnInNoBtf(parseKconfig(readFileSync(join(dir, k, 'config.txt'), 'utf8')))).toBe(/^5\.10\./.test(k));
  });
});
