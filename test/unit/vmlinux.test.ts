/**
 * A vmlinux cut short is never cached as the kernel (issue 26): elfComplete on real ELF files, whole
 * and truncated: this machine's /bin/ls, and every vmlinux nfscope's kernel cache holds.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { accessSync, constants, openSync, readSync, closeSync, readFileSync, readdirSync, existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { elfComplete } from '../../src/vm/vmlinux.js';

function head(path: string): Buffer {
  const b = Buffer.alloc(64);
  const fd = openSync(path, 'r');
  try {
    readSync(fd, b, 0, 64, 0);
  } finally {
    closeSync(fd);
  }
  return b;
}

describe('elfComplete', () => {
  it('/bin/ls whole: yes; cut by one byte, or to its first half: no; not an ELF: no', () => {
    const ls = readFileSync('/bin/ls');
    expect(elfComplete(ls.subarray(0, 64), ls.length)).toBe(true);
    expect(elfComplete(ls.subarray(0, 64), ls.length - 1)).toBe(false);
    expect(elfComplete(ls.subarray(0, 64), ls.length >> 1)).toBe(false);
    expect(elfComplete(readFileSync('/etc/passwd').subarray(0, 64), 1 << 20)).toBe(false);
  });
  const cache = process.env.NFSCOPE_CACHE ?? '/var/cache/nfscope';
  // The kernel cache is root's (0700): as another user (npm run test:unit needs no root) it cannot be
  // read, and the case is skipped saying so, as where there is no cache.
  const readable = (p: string) => { try { accessSync(p, constants.R_OK | constants.X_OK); return true; } catch { return false; } };
  const kernels = join(cache, 'kernels');
  if (existsSync(kernels) && !readable(kernels)) console.log(`vmlinux: ${kernels} not readable by this user (root's): not checked`);
  const dirs = existsSync(kernels) && readable(kernels) ? readdirSync(kernels).map((d) => join(kernels, d)) : [];
  const unreadable = dirs.filter((d) => !readable(d));
  if (unreadable.length) console.log(`vmlinux: ${unreadable.length} kernel cache dir(s) not readable by this user (root's): not checked`);
  const elfs = dirs.filter(readable).flatMap((d) => readdirSync(d).filter((f) => /^vmlinux-[^/]+$/.test(f) && !f.endsWith('.btf') && !f.includes('.tmp')).map((f) => join(d, f)));
  const readelf = spawnSync('readelf', ['--version']).status === 0;
  it.runIf(elfs.length > 0 && readelf)(`each vmlinux in the kernel cache is whole, as binutils reads it, and one byte short is not (${elfs.length} here)`, () => {
    for (const f of elfs) {
      // Where binutils says the ELF ends (its section header table); the decompressed payload may
      // carry more after it (x86's relocations, vmlinux.relocs), which booting through PVH does not read.
      const h = execFileSync('readelf', ['-h', f], { encoding: 'utf8' });
      const n = (re: RegExp) => Number(re.exec(h)![1]);
      const end = n(/Start of section headers:\s+(\d+)/) + n(/Size of section headers:\s+(\d+)/) * n(/Number of section headers:\s+(\d+)/);
      expect(statSync(f).size).toBeGreaterThanOrEqual(end);
      expect(elfComplete(head(f), statSync(f).size), f).toBe(true);
      expect(elfComplete(head(f), end), f).toBe(true);
      expect(elfComplete(head(f), end - 1), f).toBe(false);
    }
  });
  if (!elfs.length) console.log(`skipped the kernel cache check: no vmlinux under ${cache}/kernels (nothing booted here yet)`);
  else if (!readelf) console.log('skipped the kernel cache check: no readelf (binutils) to read where each ELF ends');
});
