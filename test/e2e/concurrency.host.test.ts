/**
 * Two nfscope runs at once must not interfere: their sandboxes have random
 * names and addresses, and the tracefs nfscope mounts is shared, so the first
 * to finish does not unmount it under the others. All succeed, each sees its
 * own drop, and nothing is left behind.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { CLI, leftoversSince, machineState, nfscope } from '../helpers/sys.js';
import { expectSchema } from '../helpers/schema.js';

const tracefsMounted = () => readFileSync('/proc/mounts', 'utf8').includes(' tracefs ');

describe('concurrent runs', () => {
  it('three trace-syn and a graph at once: all succeed, each observes its own SYNs', async () => {
    const before = machineState();
    const mountedBefore = tracefsMounted();
    const runs = await Promise.all([
      nfscope(['trace-syn', '--port', '2571', '--count', '2', '--json']),
      nfscope(['trace-syn', '--port', '2571', '--count', '3', '--firewall', 'nft', '--json']),
      nfscope(['trace-syn', '--port', '2572', '--family', 'ipv6', '--json']),
      nfscope(['graph', '--port', '2573', '--json']),
    ]);
    for (const r of runs) expect(r.exitCode, r.stderr).toBe(0);
    const [a, b, c, g] = runs.map((r) => JSON.parse(r.stdout));
    for (const t of [a, b, c]) expectSchema('trace-syn', t);
    expectSchema('graph', g);
    expect(a.drop.count).toBe(2);
    expect(b.drop.count).toBe(3);
    expect(c.drop.count).toBe(1);
    expect(g.dropStacks.total).toBe(1);
    expect(new Set([a.sandbox.client, b.sandbox.client, c.sandbox.client]).size).toBe(3);
    expect(await leftoversSince(before)).toEqual([]);
    expect(tracefsMounted()).toBe(mountedBefore);
  }, 180_000);
});

describe('a run killed while it waits to mount tracefs', () => {
  const LOCK = '/run/nfscope/tracefs.lock';
  const MARK = '/run/nfscope/tracefs-mounted';
  // Needs tracefs unmounted here (as on this 6.18 host): a system mount is never touched, so the
  // run would not wait for the lock at all.
  if (tracefsMounted()) console.log('concurrency: "a run killed while it waits to mount tracefs" skipped: tracefs is mounted here (the system\'s), so no run waits to mount it');
  it.skipIf(tracefsMounted())('leaves no mount behind once nfscope cleanup ran and the lock is free', async () => {
    const before = machineState();
    // Hold the lock the mount step takes, so that the run waits in flock, then kill it there.
    mkdirSync('/run/nfscope', { recursive: true, mode: 0o700 });
    // -o: the lock is flock's own, not sleep's, so killing flock frees it.
    const holder = spawn('flock', ['-o', LOCK, 'sleep', '60'], { stdio: 'ignore', detached: true });
    try {
      await new Promise((r) => setTimeout(r, 300));
      const run = spawn('node', [CLI, 'trace-syn', '--port', '2571', '--count', '1', '--json'], { stdio: 'ignore' });
      const t0 = Date.now();
      while (!existsSync(MARK) && Date.now() - t0 < 30_000) await new Promise((r) => setTimeout(r, 20));
      expect(existsSync(MARK), 'the run got to the mount step').toBe(true);
      await new Promise((r) => setTimeout(r, 300));
      run.kill('SIGKILL');
      await new Promise((r) => run.on('exit', r));
      const c = await execa('node', [CLI, 'cleanup', '--json'], { reject: false });
      expect(c.exitCode, c.stderr).toBe(0);
    } finally {
      process.kill(-holder.pid!, 'SIGKILL'); // flock and its sleep: its own process group
    }
    // Before the fix the orphaned flock took the lock here and mounted tracefs for good.
    await new Promise((r) => setTimeout(r, 1000));
    expect(tracefsMounted()).toBe(false);
    expect(existsSync(MARK)).toBe(false);
    expect(await leftoversSince(before)).toEqual([]);
  }, 120_000);
});
