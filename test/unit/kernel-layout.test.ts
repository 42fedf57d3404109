/**
 * normaliseLayout: the three package layouts Debian's kernels have shipped,
 * as dpkg-deb -x leaves them (file names from the real packages; contents
 * are placeholders, the layout is what is under test).
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { normaliseLayout } from '../../src/vm/kernel.js';

let dirs: string[] = [];
afterEach(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); dirs = []; });

function tree(files: string[]): string {
  const root = mkdtempSync(join(tmpdir(), 'nfscope-layout-'));
  dirs.push(root);
  for (const f of files) { mkdirSync(dirname(join(root, f)), { recursive: true }); writeFileSync(join(root, f), 'x'); }
  return root;
}

describe('normaliseLayout', () => {
  it('classic (bookworm 6.1): left as it is', async () => {
    const r = tree(['boot/vmlinuz-6.1.0-57-amd64', 'boot/config-6.1.0-57-amd64', 'lib/modules/6.1.0-57-amd64/kernel/net/netfilter/nf_conntrack.ko']);
    expect(await normaliseLayout(r)).toBe('6.1.0-57-amd64');
    expect(existsSync(join(r, 'lib/modules/6.1.0-57-amd64/kernel/net/netfilter/nf_conntrack.ko'))).toBe(true);
  });
  it('trixie 6.12.117-1 (2026-11): /boot kept, modules under /usr/lib/modules: moved to /lib/modules', async () => {
    const rel = '6.12.117+deb13-amd64';
    const r = tree([`boot/vmlinuz-${rel}`, `boot/config-${rel}`, `usr/lib/modules/${rel}/kernel/net/netfilter/nf_conntrack.ko.xz`]);
    expect(await normaliseLayout(r)).toBe(rel);
    expect(existsSync(join(r, `lib/modules/${rel}/kernel/net/netfilter/nf_conntrack.ko.xz`))).toBe(true);
    expect(existsSync(join(r, `usr/lib/modules/${rel}`))).toBe(false);
  });
  it('sid 7.x split: vmlinuz and config under /usr/lib/modules/REL', async () => {
    const rel = '7.2.13+deb14-amd64';
    const r = tree([`usr/lib/modules/${rel}/vmlinuz`, `usr/lib/modules/${rel}/config`, `usr/lib/modules/${rel}/kernel/x.ko.xz`]);
    expect(await normaliseLayout(r)).toBe(rel);
    expect(existsSync(join(r, `boot/vmlinuz-${rel}`))).toBe(true);
    expect(existsSync(join(r, `boot/config-${rel}`))).toBe(true);
    expect(existsSync(join(r, `lib/modules/${rel}/kernel/x.ko.xz`))).toBe(true);
  });
});
