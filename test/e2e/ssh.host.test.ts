/**
 * --target ssh:// for real, over loopback to a throwaway sshd on this
 * machine: the remote kernel is this one, reached through ssh, the quoting
 * function and a remote shell.
 */
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, leftoversSince, machineState } from '../helpers/sys.js';
import { startSshd } from '../helpers/sshd.js';
import { SshTarget } from '../../src/targets/ssh.js';
import { parseSshSpec } from '../../src/targets/ssh-spec.js';
import { HOSTILE } from '../helpers/hostile.js';

let sshd: Awaited<ReturnType<typeof startSshd>>;
beforeAll(async () => {
  sshd = await startSshd();
  Object.assign(process.env, sshd.env);
});
afterAll(async () => {
  await sshd?.stop();
  const ssh = (await execa('pgrep', ['-a', '-f', 'ssh.*127.0.0.1'], { reject: false })).stdout;
  expect(ssh.split('\n').filter((l) => l && !l.includes('pgrep'))).toEqual([]);
});

const run = (args: string[]) => execa('node', [CLI, ...args], { reject: false, env: sshd.env, timeout: 120_000 });

describe('ssh target', () => {
  it('hostile argv reaches the remote program byte for byte', async () => {
    const t = new SshTarget(parseSshSpec(sshd.spec));
    try {
      const r = await t.exec(['printf', '%s\\0', ...HOSTILE.filter((s) => !s.includes('\u0001'))]);
      expect(r.exitCode, r.stderr).toBe(0);
      expect(r.stdout.split('\0').slice(0, -1)).toEqual(HOSTILE.filter((s) => !s.includes('\u0001')));
      expect(await t.readFile('/proc/sys/kernel/osrelease')).toBe((await execa('uname', ['-r'])).stdout + '\n');
    } finally {
      await t.close();
    }
  });

  it('a remote run is bounded by its own timeout', async () => {
    const t = new SshTarget(parseSshSpec(sshd.spec));
    try {
      const t0 = Date.now();
      const r = await t.exec(['sleep', '30'], { timeoutMs: 1000 });
      expect(Date.now() - t0).toBeLessThan(10_000);
      expect(r.exitCode).not.toBe(0);
      // The agent's evidence of a run that would not end: its tasks as the far kernel saw them.
      expect(r.stderr).toMatch(/^when its 1000 ms ran out, its tasks were \(\/proc\/PID\/task\/TID\):\n {2}pid (\d+) \(sleep\)\n {4}task \1 \(sleep\) state S, wchan \S+\n/);
    } finally {
      await t.close();
    }
  });

  it('doctor and trace-syn run through ssh for real', async () => {
    const before = machineState();
    const d = await run(['doctor', '--target', sshd.spec, '--json']);
    expect(d.exitCode, d.stderr).toBe(0);
    expect(JSON.parse(d.stdout).kernel).toBe((await execa('uname', ['-r'])).stdout);
    const r = await run(['trace-syn', '--target', sshd.spec, '--port', '2571', '--json']);
    expect(r.exitCode, r.stderr).toBe(0);
    const rep = JSON.parse(r.stdout);
    expect(rep.target).toBe(sshd.spec);
    expect(rep.drop.reason).toBe('NETFILTER_DROP');
    expect(rep.conntrackEntry).toBeNull();
    expect(await leftoversSince(before)).toEqual([]);
  });
});
