/**
 * Issue 26: a source of follow's that prints a line no parser takes, or that ends while follow
 * runs, is reported (the line counted with an example; the end at once, with argv, exit status
 * and stderr) and follow goes on without it, or ends when no source of packets is left: with
 * --count it never waits for a dead source. conntrack is made to misbehave by a wrapper first on
 * PATH (nfscope finds its tools along PATH); the drop tracer is killed by this test.
 */
import { execa } from 'execa';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, dropNetns, leftoversSince, machineState, makeNetns, sh } from '../helpers/sys.js';
import { expectSchema } from '../helpers/schema.js';

const tmp = mkdtempSync(join(tmpdir(), 'nfscope-follow-src-'));
let ns = '';
beforeAll(async () => { ns = await makeNetns(); });
afterAll(async () => {
  await dropNetns(ns);
  rmSync(tmp, { recursive: true, force: true });
});

async function waitReady(path: string, p: ReturnType<typeof execa>, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  let ended: string | null = null;
  void p.then((r) => { ended = `follow exited ${r.exitCode} before it was ready: ${String(r.stderr)}`; });
  while (!existsSync(path)) {
    if (ended) throw new Error(ended);
    if (Date.now() > end) throw new Error(`${path} did not appear`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * What this follow left: the machine's leftovers less what other runs on this shared machine made
 * meanwhile (their sandboxes' nfs-* netns and their journals, by pid): follow makes no netns, and
 * its journal is named by its own pid.
 */
async function leftBy(before: ReturnType<typeof machineState>, pid: number | undefined): Promise<string[]> {
  return (await leftoversSince(before)).filter((x) => !/^netns nfs-/.test(x) && !(/^journal \d+-/.test(x) && !x.startsWith(`journal ${pid}-`)));
}

describe('follow\'s sources misbehaving', () => {
  it('conntrack -E printing garbage, then dying: the line counted and shown, the death said at once, follow going on to its end', async () => {
    const before = machineState();
    const real = (await sh(['sh', '-c', 'command -v conntrack'])).trim();
    const dir = mkdtempSync(join(tmp, 'bin-'));
    const ready = join(tmp, 'ready-ct');
    // Once follow is ready (its ready file), the event stream prints a line of no known shape, then
    // conntrack says why it stops and exits 3. Every other conntrack call is the real one.
    writeFileSync(join(dir, 'conntrack'), `#!/bin/sh\ncase " $* " in *" -E "*)\n  while [ ! -e '${ready}' ]; do sleep 0.1; done\n  echo 'garbage from the fault test'\n  sleep 0.5\n  echo 'conntrack: fault test: netlink socket gone' >&2\n  exit 3;;\nesac\nexec ${real} "$@"\n`);
    chmodSync(join(dir, 'conntrack'), 0o755);
    const p = execa('node', [CLI, 'follow', '--netns', ns, '--port', '2593', '--duration', '4', '--ready-file', ready, '--json'],
      { reject: false, timeout: 90_000, env: { PATH: `${dir}:${process.env.PATH}`, NFSCOPE_PROBE_CACHE: 'off' } });
    await waitReady(ready, p);
    const r = await p;
    expect(r.exitCode, String(r.stderr)).toBe(0);
    const summary = JSON.parse(String(r.stdout).trim().split('\n').at(-1)!);
    expectSchema('follow-summary', summary);
    expect(summary.malformed).toEqual([{ source: 'conntrack', count: 1, examples: [expect.stringMatching(/^garbage from the fault test \(conntrack -E: line \d+: /)] }]);
    const src = summary.sources.find((s: { name: string }) => s.name === 'conntrack-events');
    expect(src.ended.reason).toMatch(/^ended while following: `.*conntrack -E -o timestamp,id.*` exited 3: conntrack: fault test: netlink socket gone$/);
    expect(src.ended.then).toBe('follow went on without it (with kfree_skb)');
    // Said when it happened (on stderr, while following), and the run went on to its --duration.
    expect(String(r.stderr)).toMatch(/source conntrack-events ended while following: .*exited 3: conntrack: fault test: netlink socket gone; follow went on without it/);
    expect(src.ended.atS).toBeLessThan(3);
    expect(summary.durationS).toBeGreaterThanOrEqual(4);
    expect(await leftBy(before, p.pid)).toEqual([]);
  }, 120_000);

  it('--count with its only source of packets killed: follow ends at once, saying why, instead of waiting for a packet', async () => {
    const before = machineState();
    const ready = join(tmp, 'ready-kill');
    const p = execa('node', [CLI, 'follow', '--netns', ns, '--port', '2594', '--count', '1', '--ready-file', ready, '--json'], { reject: false, timeout: 90_000 });
    await waitReady(ready, p);
    // The drop tracer is follow's child (setpriv and env exec it): found by its parent, not by name alone.
    const pid = (await sh(['pgrep', '-P', String(p.pid), '-x', 'bpftrace'])).trim();
    expect(pid).toMatch(/^\d+$/);
    const t0 = Date.now();
    process.kill(Number(pid), 'SIGKILL');
    const r = await p;
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(r.exitCode, String(r.stderr)).toBe(0);
    const summary = JSON.parse(String(r.stdout).trim().split('\n').at(-1)!);
    expectSchema('follow-summary', summary);
    expect(summary.packets).toBe(0);
    const src = summary.sources.find((s: { name: string }) => s.name === 'kfree_skb');
    expect(src.ended.reason).toMatch(/^ended while following: `.*bpftrace -c '\S+ 2147483647' -f json .*` was killed by SIGKILL/);
    expect(src.ended.then).toBe('follow ended: no source of packets was left');
    expect(String(r.stderr)).toMatch(/source kfree_skb ended while following: .*SIGKILL.*; follow ended: no source of packets was left/);
    expect(await leftBy(before, p.pid)).toEqual([]);
  }, 120_000);
});
