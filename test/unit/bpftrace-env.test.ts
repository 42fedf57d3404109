/**
 * When bpftrace needs BPFTRACE_BTF: read from `bpftrace --info` as the tool
 * really prints it (0.17 on Debian 12: on stderr, stdout empty).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { needsBtfPath } from '../../src/kernel/capabilities.js';
import { ROOT } from '../helpers/sys.js';

const dir = join(ROOT, 'test/fixtures/bpftrace/6.18.44-fc-v657/info');
const real = { exitCode: 0, stdout: readFileSync(join(dir, 'stdout.txt'), 'utf8'), stderr: readFileSync(join(dir, 'stderr.txt'), 'utf8') };

describe('needsBtfPath', () => {
  it('bpftrace 0.17 says btf: yes on stderr: no BPFTRACE_BTF, whatever the kernel config says', () => {
    expect(real.stdout).toBe('');
    expect(real.stderr).toMatch(/^\s*btf: yes$/m);
    // A config without module BTF (this host has no modules) used to decide, because stdout was read alone.
    expect(needsBtfPath(true, real, new Map())).toBe(false);
  });
  it('btf: no (Debian 5.10 with bpftrace 0.17) asks for it, on either stream', () => {
    const no = real.stderr.replace(/btf: yes/, 'btf: no');
    expect(needsBtfPath(true, { ...real, stderr: no }, null)).toBe(true);
    expect(needsBtfPath(true, { exitCode: 0, stdout: no, stderr: '' }, null)).toBe(true);
  });
  it('no vmlinux BTF: never', () => {
    expect(needsBtfPath(false, real, null)).toBe(false);
  });
});
