/**
 * The run's own directory of BTF subsets (kernel/bpftrace-btf.ts), made where the probe cache is off
 * (as on every target but this machine): made fresh and removed at the run's end; a directory of the
 * same name found there is neither used nor removed. Against this machine's kernel BTF and /run.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { afterAll, describe, expect, it, vi } from 'vitest';

const cacheBefore = process.env.NFSCOPE_PROBE_CACHE;
process.env.NFSCOPE_PROBE_CACHE = 'off';
// PROBE_CACHE_DIR is read when boot-cache.ts is imported: a fresh registry sees "off".
vi.resetModules();
afterAll(() => {
  if (cacheBefore === undefined) delete process.env.NFSCOPE_PROBE_CACHE;
  else process.env.NFSCOPE_PROBE_CACHE = cacheBefore;
  vi.resetModules();
});

const { BtfFiles } = await import('../../src/kernel/bpftrace-btf.js');
const { Cleanup } = await import('../../src/lib/cleanup.js');
const { LocalTarget } = await import('../../src/targets/local.js');
const { setRunRandom } = await import('../../src/lib/run-random.js');

const PROGRAM = 'BEGIN { printf("%d\\n", ((struct sk_buff *)0)->len); exit(); }';
const skip = existsSync('/sys/kernel/btf/vmlinux') ? false : 'no /sys/kernel/btf/vmlinux: no subset is made on this kernel';
if (skip) console.log(`skipped: ${skip}`);

describe.skipIf(skip)('the run\'s BTF directory (probe cache off)', () => {
  it('made fresh, holds the subset, removed at the run\'s end', async () => {
    const c = new Cleanup();
    const env = await new BtfFiles(new LocalTarget(), c, null).env(PROGRAM);
    expect(env).toHaveLength(1);
    const file = env[0]!.replace(/^BPFTRACE_BTF=/, '');
    expect(file).toMatch(new RegExp(`^/run/nfscope/btf-${process.pid}-[0-9a-f]{12}/[0-9a-f]{16}\\.btf$`));
    // A raw BTF file: its magic, 0xeB9F, little-endian.
    expect(readFileSync(file).readUInt16LE(0)).toBe(0xeb9f);
    expect(await c.runAll()).toEqual([]);
    expect(existsSync(file.replace(/\/[^/]+$/, ''))).toBe(false);
  });

  it('a directory of the same name already there is not used, and not removed: bpftrace reads the kernel\'s BTF', async () => {
    const was = setRunRandom((n) => Buffer.alloc(n, 0xab));
    const dir = `/run/nfscope/btf-${process.pid}-abababababab`;
    mkdirSync(dir, { mode: 0o700 });
    writeFileSync(`${dir}/theirs`, 'not nfscope\'s');
    try {
      const c = new Cleanup();
      const files = new BtfFiles(new LocalTarget(), c, null);
      const why = await files.envFor(PROGRAM);
      expect(why).toMatchObject({ why: expect.stringMatching(/could not be written: .*mkdir/) });
      expect(await c.runAll()).toEqual([]);
      // Without the undo taken back (Cleanup.withdraw), teardown ran `rm -rf` on it.
      expect(readFileSync(`${dir}/theirs`, 'utf8')).toBe('not nfscope\'s');
    } finally {
      setRunRandom(was);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
