import { CapabilityError } from '../lib/errors.js';
import { PACKAGE_ROOT } from '../lib/paths.js';
import { LocalTarget } from './local.js';
import { SshTarget } from './ssh.js';

/** `vagrant ssh-config` → the fields ssh needs (HostName, User, Port, IdentityFile). */
export function parseSshConfig(text: string): { host: string; user: string; port: number; identity: string | null } | null {
  const get = (k: string) => text.match(new RegExp(`^\\s*${k}\\s+"?([^"\\n]+?)"?\\s*$`, 'mi'))?.[1] ?? null;
  const host = get('HostName');
  const user = get('User');
  const port = Number(get('Port') ?? '22');
  if (!host || !user || !Number.isInteger(port)) return null;
  return { host, user, port, identity: get('IdentityFile') };
}

/**
 * The Fedora classroom VM of the Vagrantfile, as an ssh target. nfscope's
 * commands then run on the VM's kernel as root (sudo on the remote side).
 */
export async function vagrantTarget(progress?: (m: string) => void): Promise<SshTarget> {
  const local = new LocalTarget();
  if (!(await local.which('vagrant'))) throw new CapabilityError('vagrant is not installed (apt-get install vagrant / dnf install vagrant)');
  progress?.('asking vagrant for the VM\'s ssh settings');
  const r = await local.exec(['vagrant', 'ssh-config'], { cwd: PACKAGE_ROOT, timeoutMs: 60_000 });
  const c = r.exitCode === 0 ? parseSshConfig(r.stdout) : null;
  if (!c) throw new CapabilityError(`the Vagrant VM is not running (vagrant ssh-config: ${r.stderr.trim() || 'no output'}); start it with 'vagrant up'`);
  const opts = ['-o', 'UserKnownHostsFile=/dev/null', '-o', 'StrictHostKeyChecking=no', ...(c.identity ? ['-i', c.identity] : [])];
  return new SshTarget({ user: c.user, host: c.host, port: c.port }, opts, true);
}
