/**
 * --target vagrant: what nfscope reads of `vagrant ssh-config`, on a real
 * capture (test/fixtures/vagrant/ssh-config-netns.txt, see its .meta): the
 * locally built box behind scripts/vagrant/vagrant.sh, whose address lives in a
 * network namespace and is reached through ProxyCommand.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseSshConfig, vagrantCommand } from '../../src/targets/vagrant.js';
import { ROOT } from '../helpers/sys.js';

const captured = readFileSync(join(ROOT, 'test/fixtures/vagrant/ssh-config-netns.txt'), 'utf8');

describe('parseSshConfig', () => {
  it('reads host, user, port, key and the ProxyCommand whole', () => {
    expect(parseSshConfig(captured)).toEqual({
      host: '192.168.121.167',
      user: 'vagrant',
      port: 22,
      identity: '/tmp/vc/.vagrant/machines/default/libvirt/private_key',
      proxyCommand: 'ip netns exec nfscope-vagrant-dev nc %h %p',
    });
  });

  it('has no ProxyCommand where vagrant gives none (plain `vagrant up`)', () => {
    const plain = captured.split('\n').filter((l) => !/ProxyCommand/.test(l)).join('\n');
    expect(parseSshConfig(plain)?.proxyCommand).toBeNull();
  });

  it('refuses output without a host or user (the VM is not running)', () => {
    expect(parseSshConfig('')).toBeNull();
    expect(parseSshConfig(captured.replace(/^\s*HostName.*$/m, ''))).toBeNull();
    expect(parseSshConfig(captured.replace(/^\s*User .*$/m, ''))).toBeNull();
  });
});

describe('vagrantCommand', () => {
  it('is NFSCOPE_VAGRANT when set, vagrant on PATH otherwise', () => {
    expect(vagrantCommand({ NFSCOPE_VAGRANT: '/opt/x/scripts/vagrant/vagrant.sh' })).toBe('/opt/x/scripts/vagrant/vagrant.sh');
    expect(vagrantCommand({ NFSCOPE_VAGRANT: '  ' })).toBe('vagrant');
    expect(vagrantCommand({})).toBe('vagrant');
  });
});

describe('LocalTarget.which, as NFSCOPE_VAGRANT uses it', () => {
  it('takes a path with a slash as it is, and a name along PATH', async () => {
    const { LocalTarget } = await import('../../src/targets/local.js');
    const t = new LocalTarget();
    const wrapper = join(ROOT, 'scripts/vagrant/vagrant.sh');
    expect(await t.which(wrapper)).toBe(wrapper);
    expect(await t.which(join(ROOT, 'README.md'))).toBeNull(); // not executable
    expect(await t.which(join(ROOT, 'scripts/vagrant/no-such.sh'))).toBeNull();
    expect(await t.which('sh')).toMatch(/\/sh$/);
  });
});
