import { CapabilityError } from '../lib/errors.js';
import { PACKAGE_ROOT } from '../lib/paths.js';
import { LocalTarget } from './local.js';
import { SshTarget } from './ssh.js';

export interface VagrantSsh { host: string; user: string; port: number; identity: string | null; proxyCommand: string | null }

/**
 * `vagrant ssh-config` → the fields ssh needs (HostName, User, Port,
 * IdentityFile, ProxyCommand). ProxyCommand is how scripts/vagrant/vagrant.sh's
 * VM, whose address lives in a network namespace, is reached from outside it.
 */
export function parseSshConfig(text: string): VagrantSsh | null {
  const get = (k: string) => text.match(new RegExp(`^\\s*${k}\\s+"?([^"\\n]+?)"?\\s*$`, 'mi'))?.[1] ?? null;
  const host = get('HostName');
  const user = get('User');
  const port = Number(get('Port') ?? '22');
  if (!host || !user || !Number.isInteger(port)) return null;
  // ProxyCommand's value is a command line: taken whole, quotes and all.
  const proxy = text.match(/^\s*ProxyCommand\s+(.+?)\s*$/mi)?.[1] ?? null;
  return { host, user, port, identity: get('IdentityFile'), proxyCommand: proxy };
}

/**
 * The vagrant to ask: NFSCOPE_VAGRANT (a path, e.g. scripts/vagrant/vagrant.sh,
 * which keeps libvirt in a namespace of its own), else vagrant on PATH.
 */
export function vagrantCommand(env: NodeJS.ProcessEnv = process.env): string {
  return env.NFSCOPE_VAGRANT?.trim() || 'vagrant';
}

/**
 * The Fedora classroom VM of the Vagrantfile, as an ssh target. nfscope's
 * commands then run on the VM's kernel as root (sudo on the remote side).
 */
export async function vagrantTarget(progress?: (m: string) => void): Promise<SshTarget> {
  const local = new LocalTarget();
  const vagrant = vagrantCommand();
  if (!(await local.which(vagrant))) {
    throw new CapabilityError(vagrant === 'vagrant'
      ? 'vagrant is not installed (apt-get install vagrant / dnf install vagrant)'
      : `NFSCOPE_VAGRANT=${vagrant}: not an executable`);
  }
  progress?.('asking vagrant for the VM\'s ssh settings');
  const r = await local.exec([vagrant, 'ssh-config'], { cwd: PACKAGE_ROOT, timeoutMs: 120_000 });
  const c = r.exitCode === 0 ? parseSshConfig(r.stdout) : null;
  if (!c) throw new CapabilityError(`the Vagrant VM is not running (${vagrant} ssh-config: ${r.stderr.trim() || 'no output'}); start it with 'vagrant up'`);
  const opts = ['-o', 'UserKnownHostsFile=/dev/null', '-o', 'StrictHostKeyChecking=no',
    ...(c.identity ? ['-i', c.identity] : []),
    ...(c.proxyCommand ? ['-o', `ProxyCommand=${c.proxyCommand}`] : [])];
  return new SshTarget({ user: c.user, host: c.host, port: c.port }, opts, true);
}
