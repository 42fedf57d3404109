/**
 * Not root: every command that needs root says so the same way, with one exit code (4), before it
 * changes anything: the commands that open a session (trace-syn, hooks, follow, lifetimes) and the
 * lab, which checks first. Run for real as uid 65534 (setpriv), against this machine's kernel.
 */
import { accessSync, constants } from 'node:fs';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { CLI, ROOT, leftoversSince, machineState } from '../helpers/sys.js';

const NOBODY = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--'];

/** Whether uid 65534 can read the built CLI here (a clone under a private directory cannot). */
async function nobodyCanRun(): Promise<string | null> {
  const r = await execa(NOBODY[0]!, [...NOBODY.slice(1), 'node', '-e', `require('fs').accessSync(${JSON.stringify(CLI)}, ${constants.R_OK})`], { reject: false });
  return r.exitCode === 0 ? null : `uid 65534 cannot read ${CLI} in this clone (${ROOT}): ${r.stderr.trim().split('\n').at(-1)}`;
}

describe('not root', () => {
  it.each([
    [['trace-syn', '--port', '2571']],
    [['hooks']],
    [['follow', '--port', '2571', '--count', '1']],
    [['lifetimes', '--port', '2571', '--duration', '1']],
    [['lab', '--target', 'local']],
  ])('%j exits 4 with the same words, and changes nothing', async (args) => {
    accessSync(CLI);
    const why = await nobodyCanRun();
    if (why) {
      console.log(`skipped: ${why}`);
      return;
    }
    const before = machineState();
    const r = await execa(NOBODY[0]!, [...NOBODY.slice(1), 'node', CLI, ...args], { reject: false, timeout: 60_000 });
    expect(r.exitCode, r.stderr).toBe(4);
    expect(r.stderr).toMatch(/needs root on target 'local' \(BPF, namespaces, firewall, tracefs\): run it with sudo/);
    expect(await leftoversSince(before)).toEqual([]);
  });
});
