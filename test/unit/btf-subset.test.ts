/**
 * The BTF nfscope hands bpftrace (programs/btf-subset.ts): the types a program names, laid out
 * exactly as in the kernel's BTF, and little else. Read back with nfscope's own BTF reader and
 * compared with the kernel's: this machine's /sys/kernel/btf/vmlinux, and for a module's struct
 * (struct nf_conntrack_helper where nf_conntrack is a module) a cached Debian kernel's nf_conntrack.ko.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Btf, KIND } from '../../src/parsers/btf.js';
import { btfSubset, needsKernelBtf, programTracepoints, programTypes } from '../../src/programs/btf-subset.js';
import { refuseUndo } from '../../src/lib/undo-allowlist.js';
import { withEnv } from '../../src/programs/program.js';

const VMLINUX = '/sys/kernel/btf/vmlinux';

/** skb:kfree_skb's fields as a Debian 6.1.0-57 guest's tracefs printed them (qemu micro-VM, 2026-12-07). */
const KFREE_SKB_61 = [
  'name: kfree_skb',
  'format:',
  '\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;',
  '\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;',
  '\tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;',
  '\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;',
  '',
  '\tfield:void * skbaddr;\toffset:8;\tsize:8;\tsigned:0;',
  '\tfield:void * location;\toffset:16;\tsize:8;\tsigned:0;',
  '\tfield:unsigned short protocol;\toffset:24;\tsize:2;\tsigned:0;',
  '\tfield:enum skb_drop_reason reason;\toffset:28;\tsize:4;\tsigned:0;',
].join('\n');

describe('the types a program names', () => {
  it('casts, curtask, tracepoint fields, and the members it follows', () => {
    const text = [
      '/* ((struct sock *)x) in a comment is not a read */',
      'BEGIN { $n = (uint64)curtask->nsproxy->net_ns; printf("struct fake in a string\\n"); }',
      'tracepoint:skb:kfree_skb { $c = ((struct nf_conn *)arg0)->status; }',
    ].join('\n');
    const { roots, derefs } = programTypes(text, [KFREE_SKB_61]);
    expect(roots.filter((r) => r.includes(' ')).sort()).toEqual(['enum skb_drop_reason', 'struct nf_conn', 'struct task_struct']);
    expect([...derefs].sort()).toEqual(['curtask', 'net_ns', 'nsproxy', 'status']);
    expect(programTracepoints(text)).toEqual([{ category: 'skb', name: 'kfree_skb' }]);
  });

  it('a format field of a typedef names the typedef; C\'s own words do not; sizes bpftrace retypes fields to', () => {
    const { roots } = programTypes('', ['\tfield:const u32 * ids[4];\toffset:8;\tsize:32;\tsigned:0;\n\tfield:unsigned long long x;\toffset:40;\tsize:8;\tsigned:0;\n\tfield:__u8 addr[sizeof(struct sockaddr_in6)];\toffset:48;\tsize:28;\tsigned:0;']);
    expect(roots.sort()).toEqual(['__u8', 's16', 's32', 's64', 's8', 'struct sockaddr_in6', 'u16', 'u32', 'u64', 'u8']);
  });

  it('follows the member before an arrow too, through indexes and dots', () => {
    const { derefs } = programTypes('BEGIN { $x = ((struct a *)0)->b.c->d; $y = ((struct a *)0)->arr[1]->e; }', []);
    expect([...derefs].sort()).toEqual(['arr', 'b', 'c', 'd', 'e']);
  });

  it('fentry probes anywhere in a probe list need the kernel\'s own BTF; a string saying so does not', () => {
    expect(needsKernelBtf('kprobe:a,\nkfunc:b { }')).toBe(true);
    expect(needsKernelBtf('kretfunc:x { }')).toBe(true);
    expect(needsKernelBtf('kprobe:a { printf("kfunc:b\\n"); }')).toBe(false);
    expect(programTracepoints('t:skb:kfree_skb { }')).toEqual([{ category: 'skb', name: 'kfree_skb' }]);
  });

  it('the directory\'s undo is one `nfscope cleanup` replays', () => {
    expect(refuseUndo({ argv: ['rm', '-rf', '/run/nfscope/btf-vm-123-0a1b2c3d4e5f'] })).toBeNull();
  });
});

describe.skipIf(!existsSync(VMLINUX))(`a subset of this machine's ${VMLINUX}`, () => {
  const full = Btf.parse(readFileSync(VMLINUX));

  it('lays out the named structs as the kernel does, pointees only declared unless followed', () => {
    const { blob, missing, types } = btfSubset([full], ['struct task_struct', 'struct sk_buff', 'struct nf_hook_entries'], new Set(['nsproxy', 'net_ns']));
    expect(missing).toEqual([]);
    const sub = Btf.parse(blob, null, 'subset');
    // A few thousand types at most, against the kernel's ~100k: what makes bpftrace's lookups cheap.
    expect(types).toBeLessThan(5000);
    expect(full.ownIds.end).toBeGreaterThan(20 * types);
    const same = (struct: string, members: string[]) => {
      const a = full.layout(struct, members);
      const b = sub.layout(struct, members);
      expect({ ...b, source: a.source }).toEqual(a);
    };
    same('sk_buff', ['len', 'head', 'dev', 'network_header', 'transport_header', 'protocol']);
    same('task_struct', ['nsproxy', 'pid', 'comm']);
    // Followed by name (`->nsproxy->net_ns`): in full.
    same('nsproxy', ['net_ns']);
    same('nf_hook_entries', ['num_hook_entries']);
    // Not followed: only declared (a struct without members), so bpftrace cannot read it typed.
    expect(full.structId('mm_struct')).not.toBeNull();
    expect(sub.structId('mm_struct')).toBeNull();
    expect(sub.named('mm_struct', [KIND.FWD]).length).toBe(1);
  });

  it('a pointer to a struct without a name brings that struct in full (it has no declaration)', () => {
    // include/linux/mm.h: struct vm_fault's `pmd_t *pmd`; pmd_t is a typedef of an anonymous struct.
    const { blob } = btfSubset([full], ['struct vm_fault']);
    const sub = Btf.parse(blob, null, 'subset');
    expect(sub.named('', [KIND.FWD])).toEqual([]);
    const [pmd] = sub.named('pmd_t', [KIND.TYPEDEF]);
    expect(pmd).toBeDefined();
    expect(sub.record(sub.record(pmd!).sizeOrType).kind).toBe(KIND.STRUCT);
  });

  it('an enum with all its values; a name in no BTF is missing', () => {
    const { blob, missing } = btfSubset([full], ['enum skb_drop_reason', 'struct no_such_struct_here']);
    expect(missing).toEqual(['struct no_such_struct_here']);
    const sub = Btf.parse(blob, null, 'subset');
    const [a] = full.named('skb_drop_reason', [KIND.ENUM, KIND.ENUM64]);
    const [b] = sub.named('skb_drop_reason', [KIND.ENUM, KIND.ENUM64]);
    expect(b).toBeDefined();
    expect(sub.record(b!).vlen).toBe(full.record(a!).vlen);
    expect(sub.record(b!).tail.length).toBe(full.record(a!).tail.length);
  });
});

const CACHE = '/var/cache/nfscope/kernels';
/** A cached Debian 6.x kernel with its vmlinux BTF and a modular nf_conntrack. */
const kernel = (existsSync(CACHE) ? readdirSync(CACHE) : []).sort().reverse().map((d) => {
  const btf = readdirSync(join(CACHE, d)).find((f) => f.endsWith('.btf'));
  const version = btf?.replace(/^vmlinux-|\.btf$/g, '');
  const ko = version && join(CACHE, d, 'root/lib/modules', version, 'kernel/net/netfilter/nf_conntrack.ko');
  return btf && ko && existsSync(ko) && /^6\./.test(version) ? { btf: join(CACHE, d, btf), ko, version } : null;
}).find(Boolean);
const why = !kernel ? `no cached Debian 6.x kernel with nf_conntrack.ko under ${CACHE} (a micro-VM boot caches one)` : !existsSync('/usr/bin/objcopy') ? 'no objcopy (binutils)' : null;
if (why) console.log(`btf-subset: the module case skipped: ${why}`);

describe.skipIf(why !== null)(`a subset across vmlinux and nf_conntrack.ko of ${kernel?.version ?? 'a cached kernel'}`, () => {
  it('a struct of the module, and one of vmlinux it holds by value, in one file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'nfscope-test-btf-'));
    let modBlob: Buffer;
    try {
      execFileSync('/usr/bin/objcopy', ['-O', 'binary', '--only-section=.BTF', '--set-section-flags', '.BTF=alloc', kernel!.ko, join(dir, 'btf')]);
      modBlob = readFileSync(join(dir, 'btf'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const base = Btf.parse(readFileSync(kernel!.btf));
    const mod = Btf.parse(modBlob, base, '/sys/kernel/btf/nf_conntrack');
    // The premise: struct nf_conntrack_helper is the module's own (include/net/netfilter/nf_conntrack_helper.h).
    expect(base.structId('nf_conntrack_helper')).toBeNull();
    expect(btfSubset([base], ['struct nf_conntrack_helper']).missing).toEqual(['struct nf_conntrack_helper']);
    const { blob, missing } = btfSubset([base, mod], ['struct nf_conntrack_helper', 'struct nf_conn']);
    expect(missing).toEqual([]);
    const sub = Btf.parse(blob, null, 'subset');
    const strip = (l: ReturnType<Btf['layout']>) => ({ ...l, source: 'x' });
    // name is char[16]; tuple a struct nf_conntrack_tuple of vmlinux's, held by value.
    const helper = ['name', 'tuple.dst.protonum', 'tuple.src.l3num', 'expect_class_max'];
    expect(strip(sub.layout('nf_conntrack_helper', helper))).toEqual(strip(mod.layout('nf_conntrack_helper', helper)));
    const conn = ['status', 'timeout', 'tuplehash[0].tuple.dst.protonum', 'tuplehash[1].tuple.src.u3.ip'];
    expect(strip(sub.layout('nf_conn', conn))).toEqual(strip(base.layout('nf_conn', conn)));
  });

  it('a vmlinux type met through two modules is written once, and a root is never only declared', () => {
    const dir = mkdtempSync(join(tmpdir(), 'nfscope-test-btf-'));
    const section = (ko: string): Buffer => {
      execFileSync('/usr/bin/objcopy', ['-O', 'binary', '--only-section=.BTF', '--set-section-flags', '.BTF=alloc', ko, join(dir, 'btf')]);
      return readFileSync(join(dir, 'btf'));
    };
    try {
      const base = Btf.parse(readFileSync(kernel!.btf));
      const nft = Btf.parse(section(kernel!.ko.replace(/nf_conntrack\.ko$/, 'nf_tables.ko')), base, '/sys/kernel/btf/nf_tables');
      const xt = Btf.parse(section(kernel!.ko.replace(/netfilter\/nf_conntrack\.ko$/, 'netfilter/x_tables.ko')), base, '/sys/kernel/btf/x_tables');
      const { blob, missing } = btfSubset([base, nft, xt], ['struct nft_chain', 'struct nft_table', 'struct xt_table', 'struct sk_buff', 'struct nf_hook_ops', 'enum nft_registers']);
      // enum nft_registers is the first string of nf_tables' own string section (no NUL before it).
      expect(missing).toEqual([]);
      const sub = Btf.parse(blob, null, 'subset');
      const { first, end } = sub.ownIds;
      const names = new Map<string, number>();
      for (let id = first; id < end; id++) {
        const r = sub.record(id);
        if (r.name && (r.kind === KIND.STRUCT || r.kind === KIND.UNION)) names.set(r.name, (names.get(r.name) ?? 0) + 1);
      }
      expect([...names].filter(([, n]) => n > 1)).toEqual([]);
      // bpftrace finds a cast's struct by its first match: the root in full, never a declaration of it.
      for (const root of ['nf_hook_ops', 'nft_chain', 'xt_table', 'sk_buff']) expect(sub.named(root, [KIND.FWD]), root).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('withEnv: BPFTRACE_BTF added to the bpftrace command', () => {
  it('through env, replacing an assignment of the same name', () => {
    expect(withEnv(['/usr/bin/bpftrace', '-c', 'sleep 1'], ['BPFTRACE_BTF=/run/x.btf'])).toEqual(['env', 'BPFTRACE_BTF=/run/x.btf', '/usr/bin/bpftrace', '-c', 'sleep 1']);
    expect(withEnv(['env', 'BPFTRACE_BTF=/sys/kernel/btf/vmlinux', 'BPFTRACE_MAP_KEYS_MAX=9', '/usr/bin/bpftrace'], ['BPFTRACE_BTF=/run/x.btf']))
      .toEqual(['env', 'BPFTRACE_MAP_KEYS_MAX=9', 'BPFTRACE_BTF=/run/x.btf', '/usr/bin/bpftrace']);
    expect(withEnv(['/usr/bin/bpftrace'], [])).toEqual(['/usr/bin/bpftrace']);
  });
});
