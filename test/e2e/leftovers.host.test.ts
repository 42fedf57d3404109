/**
 * The leftover check on the real machine (test/helpers/sys.ts leftoversSince): it names what a test
 * made and forgot, and only that. Each case plants the leftover for real, asserts the check names
 * it, then removes it.
 */
import { execa } from 'execa';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { dropNetns, leftoversSince, machineState, makeNetns, sh } from '../helpers/sys.js';

const tmp = mkdtempSync(join(tmpdir(), 'nfscope-leftovers-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('leftoversSince', () => {
  it('names a netns the test created and forgot; not one that was there before', async () => {
    const had = await makeNetns(); // the user's own state, as the classroom VM's netns
    try {
      const before = machineState();
      const forgotten = await makeNetns();
      try {
        expect(await leftoversSince(before, { settleMs: 0 })).toEqual([`netns ${forgotten}`]);
      } finally {
        await dropNetns(forgotten);
      }
      expect(await leftoversSince(before, { settleMs: 0 })).toEqual([]);
    } finally {
      await dropNetns(had);
    }
  });

  it('names a netns with another nfscope-like name too (it is new, nobody else claims it)', async () => {
    const before = machineState();
    const name = `nfs-${process.pid.toString(16).padStart(6, '0').slice(-6)}-s`;
    await sh(['ip', 'netns', 'add', name]);
    try {
      expect(await leftoversSince(before, { settleMs: 0 })).toEqual([`netns ${name}`]);
    } finally {
      await dropNetns(name);
    }
  });

  it('names a tracer process the test started and forgot; not another owner\'s', async () => {
    // A program whose name is bpftrace (sleep under that name): the process table sees a bpftrace.
    const fake = join(tmp, 'bpftrace');
    copyFileSync('/bin/sleep', fake);
    const before = machineState();
    const ours = execa(fake, ['60'], { reject: false });
    const { NFSCOPE_TEST_OWNER: _, ...env } = process.env;
    const theirs = execa(fake, ['60'], { reject: false, env: { ...env, NFSCOPE_TEST_OWNER: 'another-suite' }, extendEnv: false });
    try {
      await new Promise((r) => setTimeout(r, 200));
      // With what the kernel says of it: asleep, this test's child, and where it sleeps.
      const wchan = readFileSync(`/proc/${ours.pid}/wchan`, 'utf8').trim();
      expect(wchan).not.toBe('0');
      expect(await leftoversSince(before, { settleMs: 0 })).toEqual([`process ${ours.pid} ${fake} 60 [state S, ppid ${process.pid}, wchan ${wchan}]`]);
    } finally {
      ours.kill('SIGKILL');
      theirs.kill('SIGKILL');
      await Promise.all([ours, theirs]);
    }
    expect(await leftoversSince(before)).toEqual([]);
  });
});
