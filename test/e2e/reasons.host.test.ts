/**
 * A tracer that fails to attach is said to have failed, with its own error:
 * trace-syn on this machine with a `bpftrace` first on PATH that refuses any
 * program holding skb:kfree_skb the way bpftrace 0.17 does when a probe cannot
 * attach (exit 255, "ERROR: Error attaching probe"), and runs the real
 * bpftrace for everything else (the hook listing, the capability probe). The
 * report must say the drop was not observed because of that failure, beside
 * the rule counter the kernel kept, never "no drop seen".
 */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI, leftoversSince, machineState } from '../helpers/sys.js';
import { expectSchema } from '../helpers/schema.js';

const bin = mkdtempSync(join(tmpdir(), 'nfscope-fault-bin-'));
afterAll(() => rmSync(bin, { recursive: true, force: true }));

describe('trace-syn whose kfree_skb tracer cannot attach', () => {
  it('reports the drop as not observed, with the attach failure, beside the rule counter', async () => {
    const real = (await execa('sh', ['-c', 'command -v bpftrace'])).stdout.trim();
    const wrapper = join(bin, 'bpftrace');
    writeFileSync(wrapper, [
      '#!/bin/sh',
      'for a in "$@"; do',
      '  case "$a" in *kfree_skb_syn.bt|*tracepoint:skb:kfree_skb*) echo "ERROR: Error attaching probe: \'tracepoint:skb:kfree_skb\'" >&2; exit 255;; esac',
      'done',
      `exec ${real} "$@"`,
      '',
    ].join('\n'));
    chmodSync(wrapper, 0o755);
    const before = machineState();
    const env = { ...process.env, PATH: `${bin}:${process.env.PATH}` };
    const r = await execa('node', [CLI, 'trace-syn', '--port', '2571', '--count', '2', '--json'], { reject: false, env, timeout: 120_000 });
    expect(r.exitCode, r.stderr).toBe(0);
    const rep = JSON.parse(r.stdout);
    expectSchema('trace-syn', rep);
    expect(rep.drop).toBeNull();
    expect(rep.probes.drop.attached).toBe(false);
    expect(rep.probes.drop.reason).toMatch(/^the (kfree_skb|conntrack) tracer did not attach: command failed \(exit 255\): .*ERROR: Error attaching probe: 'tracepoint:skb:kfree_skb'/);
    expect(rep.unavailable).toContainEqual({ observation: 'drop', reason: rep.probes.drop.reason });
    // The kernel's own counter saw both SYNs dropped: the report keeps it, and claims no "none seen".
    expect(rep.ruleCounter.packets).toBe(2);
    expect(rep.verdict).toContain(`Where the SYN was dropped was not observed (${rep.probes.drop.reason}); the drop rule counted 2 packet(s) [2].`);
    expect(rep.verdict).not.toMatch(/no drop/i);
    expect(await leftoversSince(before)).toEqual([]);
  }, 150_000);
});
