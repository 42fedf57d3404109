/**
 * The classroom VM's cheap checks (the whole cycle, booted, is
 * vagrant-cycle.vm.test.ts): the Vagrantfile validates for both boxes and
 * refuses bad settings, the scripts pass shellcheck (and shellcheck can fail),
 * the wrappers refuse bad input before doing anything.
 */
import { execa } from 'execa';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT, dropNetns, makeNetns } from '../helpers/sys.js';

// vagrant writes into its dotfile path (rgloader/): a private directory of this file's, removed after
// (a fixed name under /tmp was left behind by every run, and reused whoever had made it).
const dotfiles = mkdtempSync(join(tmpdir(), 'nfscope-validate-'));
afterAll(() => rmSync(dotfiles, { recursive: true, force: true }));
const validate = (env: Record<string, string> = {}, cwd = ROOT) =>
  execa('vagrant', ['validate', '--ignore-provider'], { cwd, reject: false, env: { ...env, VAGRANT_DOTFILE_PATH: dotfiles } });

describe('Vagrantfile', () => {
  it('vagrant validate accepts it with the default (Fedora) box', async () => {
    const r = await validate();
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/validated successfully/);
  });

  it('and with the local box, the namespace and TCG, as scripts/vagrant/vagrant.sh runs it', async () => {
    const r = await validate({ NFSCOPE_BOX: 'nfscope/debian12', NFSCOPE_VAGRANT_NETNS: 'nfscope-vagrant', NFSCOPE_VAGRANT_DRIVER: 'qemu' });
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
  });

  it('refuses a namespace name that is not a name, and an unknown driver', async () => {
    const ns = await validate({ NFSCOPE_VAGRANT_NETNS: 'x; touch /tmp/pwned' });
    expect(ns.exitCode).not.toBe(0);
    expect(ns.stdout + ns.stderr).toMatch(/NFSCOPE_VAGRANT_NETNS: bad namespace name/);
    const drv = await validate({ NFSCOPE_VAGRANT_DRIVER: 'xen' });
    expect(drv.exitCode).not.toBe(0);
    expect(drv.stdout + drv.stderr).toMatch(/NFSCOPE_VAGRANT_DRIVER: kvm or qemu/);
  });

  it('vagrant validate rejects a broken copy (the check can fail)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nfscope-vagrant-'));
    try {
      cpSync(join(ROOT, 'scripts'), join(dir, 'scripts'), { recursive: true });
      writeFileSync(join(dir, 'Vagrantfile'), readFileSync(join(ROOT, 'Vagrantfile'), 'utf8').replace('config.vm.box = BOX', 'config.vm.box = nil\n  config.vm.bogus_option = 1'));
      const r = await validate({}, dir);
      expect(r.exitCode).not.toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('scripts/vagrant', () => {
  const scripts = ['provision.sh', 'local-box.sh', 'vagrant.sh', 'cycle.sh', 'drop-box-image.sh'].map((s) => join(ROOT, 'scripts/vagrant', s));

  it('every script passes shellcheck', async () => {
    // -x: follow the sourced scripts/lib/missing-pkgs.sh (from the repository root).
    const r = await execa('shellcheck', ['-x', ...scripts, join(ROOT, 'scripts/lib/missing-pkgs.sh'), join(ROOT, 'scripts/setup.sh')], { reject: false, cwd: ROOT });
    expect(r.exitCode, r.stdout).toBe(0);
  });

  it('shellcheck fails on a planted mistake (the check can fail)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nfscope-shellcheck-'));
    try {
      const bad = join(dir, 'provision.sh');
      writeFileSync(bad, readFileSync(scripts[0], 'utf8').replace('cd "$ROOT"', 'cd $NFSCOPE_DIR'));
      const r = await execa('shellcheck', ['-x', bad], { reject: false, cwd: ROOT });
      expect(r.exitCode).not.toBe(0);
      expect(r.stdout).toMatch(/SC2086|SC2154/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('provision.sh installs what a target needs from the shared list, with the shared installer', () => {
    const p = readFileSync(scripts[0], 'utf8');
    expect(p).toContain('scripts/lib/target-tools.list');
    expect(p).toContain('scripts/lib/pkg-install.sh');
    expect(p).toMatch(/debuginfo-install/);
    const list = readFileSync(join(ROOT, 'scripts/lib/target-tools.list'), 'utf8');
    for (const e of ['bpftrace:bpftrace:bpftrace', 'conntrack:conntrack:conntrack-tools', 'iptables:iptables:iptables-nft', 'drgn:python3-drgn:drgn']) expect(list).toContain(e);
  });

  it('missing_packages names the package of what is absent, for this package manager', async () => {
    const r = await execa('bash', ['-c', '. scripts/lib/missing-pkgs.sh; missing_packages "$@"', 'x',
      'sh:deb-sh:fed-sh', 'no-such-program-xyz:deb-prog:fed-prog', '/no/such/dir/*.so:deb-file:fed-file', '/usr/bin/*:deb-any:fed-any'], { cwd: ROOT });
    const apt = (await execa('bash', ['-c', 'command -v apt-get'], { reject: false })).exitCode === 0;
    expect(r.stdout.split('\n')).toEqual(apt ? ['deb-prog', 'deb-file'] : ['fed-prog', 'fed-file']);
  });

  it('the wrappers refuse bad input before touching anything (exit 2)', async () => {
    const box = await execa(scripts[1], ['--bogus'], { reject: false });
    expect(box.exitCode).toBe(2);
    expect(box.stderr).toMatch(/usage/);
    const ns = await execa(scripts[2], ['status'], { reject: false, env: { NFSCOPE_VAGRANT_NETNS: '../etc' } });
    expect(ns.exitCode).toBe(2);
    expect(ns.stderr).toMatch(/bad namespace name/);
  });
});

describe('scripts/vagrant/vagrant.sh refuses what is not its own (issue 26)', () => {
  const wrapper = join(ROOT, 'scripts/vagrant/vagrant.sh');
  it('a namespace name of dots, or not starting with a letter or digit: exit 2', async () => {
    for (const name of ['.', '..', '-x', '.hidden']) {
      const r = await execa(wrapper, ['status'], { reject: false, env: { NFSCOPE_VAGRANT_NETNS: name } });
      expect(r.exitCode, `${name}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toMatch(/bad namespace name/);
    }
  });

  it('a namespace of its name that it did not create is neither adopted nor, on --stop, deleted', async () => {
    const ns = await makeNetns();
    try {
      for (const args of [['status'], ['--stop']]) {
        const r = await execa(wrapper, args, { reject: false, env: { NFSCOPE_VAGRANT_NETNS: ns } });
        expect(r.exitCode, `${args.join(' ')}: ${r.stderr}`).toBe(1);
        expect(r.stderr).toMatch(new RegExp(`namespace ${ns} exists that vagrant.sh did not create`));
        expect((await execa('ip', ['netns', 'list'])).stdout).toContain(ns);
      }
    } finally {
      await dropNetns(ns);
    }
  });
});
