import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { bootKey, modulesKey } from '../../src/kernel/boot-key.js';
import { LocalTarget } from '../../src/targets/local.js';

const root = mkdtempSync(join(tmpdir(), 'nfscope-cache-test-'));
const envBefore = process.env.NFSCOPE_PROBE_CACHE;
afterAll(() => {
  rmSync(root, { recursive: true, force: true });
  // The unit run shares one process between files (vitest.unit.config.ts: isolate false): the
  // next file gets the cache directory it had, and a fresh boot-cache module.
  if (envBefore === undefined) delete process.env.NFSCOPE_PROBE_CACHE;
  else process.env.NFSCOPE_PROBE_CACHE = envBefore;
  vi.resetModules();
});

/** lib/boot-cache.ts reads its directory from the environment when loaded. */
async function cacheAt(dir: string) {
  vi.resetModules();
  process.env.NFSCOPE_PROBE_CACHE = dir;
  return import('../../src/lib/boot-cache.js');
}

describe('the probe cache (lib/boot-cache.ts)', () => {
  let n = 0;
  let dir = '';
  beforeEach(() => {
    dir = join(root, `c${++n}`);
  });
  it('keeps a value for its key, in a directory and a file of its own (0700, 0600)', async () => {
    const c = await cacheAt(dir);
    await c.writeCached('bpftrace-env', 'k1', ['BPFTRACE_BTF=/sys/kernel/btf/vmlinux']);
    expect(c.readCached('bpftrace-env', 'k1')).toEqual(['BPFTRACE_BTF=/sys/kernel/btf/vmlinux']);
    expect(c.readCached('bpftrace-env', 'k2')).toBeNull();
    expect(c.readCached('chain-kallsyms', 'k1')).toBeNull();
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(join(dir, 'bpftrace-env.json')).mode & 0o777).toBe(0o600);
  });
  it('reads a planted link, a file others can write or a directory others can write as absent', async () => {
    const c = await cacheAt(dir);
    await c.writeCached('chain-kallsyms', 'k', 'real');
    const elsewhere = join(root, `planted${n}.json`);
    writeFileSync(elsewhere, JSON.stringify({ key: 'k', value: 'planted' }));
    rmSync(join(dir, 'chain-kallsyms.json'));
    symlinkSync(elsewhere, join(dir, 'chain-kallsyms.json'));
    expect(c.readCached('chain-kallsyms', 'k')).toBeNull();
    rmSync(join(dir, 'chain-kallsyms.json'));
    writeFileSync(join(dir, 'chain-kallsyms.json'), JSON.stringify({ key: 'k', value: 'planted' }), { mode: 0o666 });
    chmodSync(join(dir, 'chain-kallsyms.json'), 0o666);
    expect(c.readCached('chain-kallsyms', 'k')).toBeNull();
    chmodSync(join(dir, 'chain-kallsyms.json'), 0o600);
    expect(c.readCached('chain-kallsyms', 'k')).toBe('planted');
    chmodSync(dir, 0o777);
    expect(c.readCached('chain-kallsyms', 'k')).toBeNull();
    await c.writeCached('chain-kallsyms', 'k', 'again');
    expect(JSON.parse(readFileSync(join(dir, 'chain-kallsyms.json'), 'utf8')).value).toBe('planted');
  });
  it('bad JSON reads as absent; a write it cannot make is no error; "off" keeps nothing', async () => {
    const c = await cacheAt(dir);
    mkdirSync(dir, { mode: 0o700 });
    writeFileSync(join(dir, 'bpftrace-env.json'), '{not json', { mode: 0o600 });
    expect(c.readCached('bpftrace-env', 'k')).toBeNull();
    const blocked = await cacheAt(join(root, `file${n}`));
    writeFileSync(join(root, `file${n}`), 'a file where the directory should be');
    await expect(blocked.writeCached('bpftrace-env', 'k', [])).resolves.toBeUndefined();
    const off = await cacheAt('off');
    await off.writeCached('bpftrace-env', 'k', []);
    expect(off.readCached('bpftrace-env', 'k')).toBeNull();
  });
});

describe('cachedProbe', () => {
  it('probes once per key, keeps only what it is told to, and re-probes what is not valid', async () => {
    const c = await cacheAt(join(root, 'probe'));
    let calls = 0;
    const isNum = (v: unknown): v is number => typeof v === 'number';
    const probe = (keep: boolean) => async () => ({ value: ++calls, keep });
    expect(await c.cachedProbe('p', 'k', isNum, probe(true))).toBe(1);
    expect(await c.cachedProbe('p', 'k', isNum, probe(true))).toBe(1);
    expect(await c.cachedProbe('q', 'k', isNum, probe(false))).toBe(2);
    expect(await c.cachedProbe('q', 'k', isNum, probe(false))).toBe(3);
    expect(await c.cachedProbe('p', null, isNum, probe(true))).toBe(4);
    expect(await c.cachedProbe('p', 'k', (v): v is number => v === 99, probe(true))).toBe(5);
  });
});

describe('the key of a fact about the running kernel (kernel/boot-key.ts)', () => {
  it('modules by name, size and address: a refcount does not change it, a move does', () => {
    const a = 'nf_tables 372736 12 nft_chain_nat, Live 0xffffffffc0a1b000\nnf_nat 61440 1 nf_tables, Live 0xffffffffc09f0000\n';
    expect(modulesKey(a)).toBe(modulesKey(a.replace(' 12 ', ' 13 ')));
    expect(modulesKey(a)).not.toBe(modulesKey(a.replace('0xffffffffc0a1b000', '0xffffffffc0b00000')));
  });
  it('this machine: one key per boot and extra part; none for a target that is not this machine', async () => {
    const t = new LocalTarget();
    const k = await bootKey(t, () => ['x']);
    expect(k).toMatch(/^[0-9a-f]{64}$/);
    expect(await bootKey(t, () => ['x'])).toBe(k);
    // A part that cannot be had (a program's stat that fails) is no key, not an error.
    expect(await bootKey(t, () => { throw new Error('ENOENT'); })).toBeNull();
    expect(await bootKey(t, () => ['y'])).not.toBe(k);
    const remote = { ...t, readFile: t.readFile.bind(t) } as unknown as LocalTarget;
    expect(await bootKey(remote)).toBeNull();
  });
});

describe('the bpf shape kept per boot (kernel/bpf-shape.ts)', () => {
  it('kept only when the kernel gave every part; what is kept is what the next run reads', async (ctx) => {
    const dir = join(root, 'shape');
    await cacheAt(dir);
    const { bpfShapeFor, probeBpfShape, isKeptShape } = await import('../../src/kernel/bpf-shape.js');
    // The module graph cacheAt loaded afresh: its LocalTarget is the one kernel/boot-key.ts knows.
    const { LocalTarget } = await import('../../src/targets/local.js');
    const release = readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim();

    // What is never kept: a layout from debug info, a part not found, a part that could not be read.
    const layout = { struct: 'net', size: 8, members: [{ name: 'nf', offset: 0, size: 8, type: 'struct netns_nf' }], source: '/sys/kernel/btf/vmlinux' };
    const base = { kfreeSkbReason: true, nfConn: { from: 'btf' }, net: { from: 'btf', layout }, netdev: { ingress: true, egress: true }, structs: [], notes: [] };
    expect(isKeptShape(base)).toBe(true);
    expect(isKeptShape({ ...base, nfConn: { from: 'debuginfo', layout: { ...layout, struct: 'nf_conn' } } })).toBe(false);
    expect(isKeptShape({ ...base, nfConn: { from: 'none', why: 'x' } })).toBe(false);
    expect(isKeptShape({ ...base, net: { from: 'bpftrace' } })).toBe(false);
    expect(isKeptShape({ ...base, net: 'btf' })).toBe(false);
    expect(isKeptShape({ ...base, netdev: null })).toBe(false);
    expect(isKeptShape({ ...base, notes: ['the kernel config could not be read (…): struct nf_conn is taken from BTF unchecked'] })).toBe(false);
    expect(isKeptShape({ ...base, net: { from: 'btf', layout: { ...layout, members: [{ name: 'nf', offset: '8' }] } } })).toBe(false);

    const fresh = await probeBpfShape(new LocalTarget(), null, release);
    if (!isKeptShape(fresh)) {
      const why = `this kernel's shape is not kept (not every part from the kernel): ${JSON.stringify(fresh.notes)}`;
      console.log(`bpf shape cache: skipped: ${why}`);
      ctx.skip(why);
    }
    // Through the cache: the first target probes and keeps what a fresh probe finds.
    expect(await bpfShapeFor(new LocalTarget(), null, release)).toEqual(fresh);
    const file = join(dir, 'bpf-shape.json');
    const kept = JSON.parse(readFileSync(file, 'utf8')) as { key: string; value: typeof fresh };
    expect(kept.value).toEqual(fresh);
    // The next run (another target object: nothing memoized) reads the file: a value planted under
    // the same key comes back as it was planted.
    const planted = { ...fresh, netdev: { ingress: !fresh.netdev!.ingress, egress: !fresh.netdev!.egress } };
    writeFileSync(file, JSON.stringify({ key: kept.key, value: planted }), { mode: 0o600 });
    expect(await bpfShapeFor(new LocalTarget(), null, release)).toEqual(planted);
    // With tracefs, a slot of its own: the planted value is not read there.
    expect((await bpfShapeFor(new LocalTarget(), '/nonexistent-tracefs', release)).netdev).toEqual(fresh.netdev);
  });
});
