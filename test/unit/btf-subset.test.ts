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
import { btfSubset, programTracepoints, programTypes } from '../../src/programs/btf-subset.js';
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
    expect(roots.sort()).toEqual(['enum skb_drop_reason', 'struct nf_conn', 'struct task_struct']);
    expect([...derefs].sort()).toEqual(['net_ns', 'nsproxy', 'status']);
    expect(programTracepoints(text)).toEqual([{ category: 'skb', name: 'kfree_skb' }]);
  });

  it('a format field of a typedef names the typedef; C\'s own words do not', () => {
    const { roots } = programTypes('', ['\tfield:const u32 * ids[4];\toffset:8;\tsize:32;\tsigned:0;\n\tfield:unsigned long long x;\toffset:40;\tsize:8;\tsigned:0;']);
    expect(roots).toEqual(['u32']);
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
});

describe('withEnv: BPFTRACE_BTF added to the bpftrace command', () => {
  it('through env, replacing an assignment of the same name', () => {
    expect(withEnv(['/usr/bin/bpftrace', '-c', 'sleep 1'], ['BPFTRACE_BTF=/run/x.btf'])).toEqual(['env', 'BPFTRACE_BTF=/run/x.btf', '/usr/bin/bpftrace', '-c', 'sleep 1']);
    expect(withEnv(['env', 'BPFTRACE_BTF=/sys/kernel/btf/vmlinux', 'BPFTRACE_MAP_KEYS_MAX=9', '/usr/bin/bpftrace'], ['BPFTRACE_BTF=/run/x.btf']))
      .toEqual(['env', 'BPFTRACE_MAP_KEYS_MAX=9', 'BPFTRACE_BTF=/run/x.btf', '/usr/bin/bpftrace']);
    expect(withEnv(['/usr/bin/bpftrace'], [])).toEqual(['/usr/bin/bpftrace']);
  });
});
