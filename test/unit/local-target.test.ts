import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { LocalTarget } from '../../src/targets/local.js';
import { ROOT } from '../helpers/sys.js';

describe('LocalTarget reads files', () => {
  const t = new LocalTarget();
  it('kernel-made files (/proc, /sys, the BTF read in one blocking loop) whole, as the kernel gives them', async () => {
    if (existsSync('/sys/kernel/btf/vmlinux')) expect((await t.readFileBuffer('/sys/kernel/btf/vmlinux'))!.equals(readFileSync('/sys/kernel/btf/vmlinux'))).toBe(true);
    expect(await t.readFile('/proc/sys/kernel/osrelease')).toBe(readFileSync('/proc/sys/kernel/osrelease', 'utf8'));
    // Longer than one page: read(2) on procfs hands out a page at a time.
    const maps = await t.readFileBuffer('/proc/self/maps');
    expect(maps?.length).toBeGreaterThan(4096);
    expect(maps?.toString()).toMatch(/\[stack\]/);
  });
  it('other files, and null for what is not there', async () => {
    expect(await t.readFile(`${ROOT}/package.json`)).toBe(readFileSync(`${ROOT}/package.json`, 'utf8'));
    expect(await t.readFile('/proc/no-such-file')).toBeNull();
    expect(await t.readFileBuffer('/nonexistent/x')).toBeNull();
  });
});
