/**
 * The Vagrantfile cannot be booted here (no box can be downloaded): CI
 * validates it with Debian's vagrant, and shows the check can fail.
 */
import { execa } from 'execa';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/sys.js';

describe('Vagrantfile', () => {
  it('vagrant validate accepts it', async () => {
    const r = await execa('vagrant', ['validate', '--ignore-provider'], { cwd: ROOT, reject: false });
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/validated successfully/);
  });

  it('vagrant validate rejects a broken copy (the check can fail)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nfscope-vagrant-'));
    try {
      cpSync(join(ROOT, 'scripts'), join(dir, 'scripts'), { recursive: true });
      writeFileSync(join(dir, 'Vagrantfile'), readFileSync(join(ROOT, 'Vagrantfile'), 'utf8').replace('config.vm.box = BOX', 'config.vm.box = nil\n  config.vm.bogus_option = 1'));
      const r = await execa('vagrant', ['validate', '--ignore-provider'], { cwd: dir, reject: false });
      expect(r.exitCode).not.toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('provisions every tool nfscope drives', () => {
    const p = readFileSync(join(ROOT, 'scripts/vagrant/provision.sh'), 'utf8');
    for (const pkg of ['bpftrace', 'trace-cmd', 'conntrack-tools', 'nftables', 'iptables-nft', 'drgn', 'nodejs']) expect(p).toContain(pkg);
    expect(p).toMatch(/debuginfo-install/);
  });
});
