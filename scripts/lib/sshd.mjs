// Shared by the ssh tests (test/helpers/sshd.ts) and scripts/bench/ssh-ratio.mjs.
import { execa } from 'execa';
import { existsSync, mkdtempSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A throwaway sshd on 127.0.0.1 for the ssh transport tests: its own host
 * key, one client key for root, no PAM, loopback only. stop() removes it all.
 */
/** @returns {Promise<{ spec: string; env: Record<string, string>; stop: () => Promise<void> }>} */
export async function startSshd() {
  const dir = mkdtempSync(join(tmpdir(), 'nfscope-sshd-'));
  for (const k of ['host', 'id']) await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, k)]);
  writeFileSync(join(dir, 'authorized_keys'), (await execa('cat', [join(dir, 'id.pub')])).stdout + '\n');
  chmodSync(dir, 0o700);
  const port = 20000 + Math.floor(Math.random() * 30000);
  writeFileSync(join(dir, 'sshd_config'), [
    `Port ${port}`, 'ListenAddress 127.0.0.1', `HostKey ${join(dir, 'host')}`, `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
    'PermitRootLogin prohibit-password', 'PasswordAuthentication no', 'KbdInteractiveAuthentication no', 'UsePAM no',
    'StrictModes no', `PidFile ${join(dir, 'sshd.pid')}`, 'MaxSessions 50', 'MaxStartups 50',
  ].join('\n') + '\n');
  // sshd's privilege separation directory; made here only if absent, and removed again.
  const madeRunSshd = !existsSync('/run/sshd');
  if (madeRunSshd) await execa('mkdir', ['-p', '-m', '0755', '/run/sshd']);
  const sshd = execa('/usr/sbin/sshd', ['-D', '-e', '-f', join(dir, 'sshd_config')], { reject: false });
  for (let i = 0; i < 100; i++) {
    const r = await execa('ssh-keyscan', ['-p', String(port), '127.0.0.1'], { reject: false });
    if (r.stdout.includes('ssh-ed25519')) {
      writeFileSync(join(dir, 'known_hosts'), r.stdout.replace(/^\S+/gm, `[127.0.0.1]:${port}`) + '\n');
      break;
    }
    await new Promise((res) => setTimeout(res, 100));
  }
  return {
    spec: `ssh://root@127.0.0.1:${port}`,
    env: { NFSCOPE_SSH_IDENTITY: join(dir, 'id'), NFSCOPE_SSH_KNOWN_HOSTS: join(dir, 'known_hosts') },
    stop: async () => {
      sshd.kill('SIGTERM');
      await sshd;
      rmSync(dir, { recursive: true, force: true });
      if (madeRunSshd) rmSync('/run/sshd', { recursive: true, force: true });
    },
  };
}
