/**
 * nfscope graph on this machine's kernel (6.18 here: no function_graph). The
 * call tree is reported not observable, with the reason; the drop's kernel
 * stacks (skb:kfree_skb, which this kernel has) are observed for real.
 */
import { describe, expect, it } from 'vitest';
import { findPath } from '../../src/model/call-tree.js';
import { leftoversSince, machineState, nfscope } from '../helpers/sys.js';
import { expectSchema } from '../helpers/schema.js';
import { kernelHasFunctionGraph } from '../helpers/kernel-facts.js';

describe('nfscope graph on the host kernel', () => {
  it('no function_graph: says so; the drop stack is observed and ends in the firewall drop', async () => {
    const before = machineState();
    const mountsBefore = (await import('node:fs')).readFileSync('/proc/mounts', 'utf8').includes(' tracefs ');
    const r = await nfscope(['graph', '--port', '2571', '--json']);
    expect(r.exitCode, r.stderr).toBe(0);
    const rep = JSON.parse(r.stdout);
    expectSchema('graph', rep);
    // Whether the kernel has function_graph, from its symbols (not from nfscope's own capability probe).
    if (kernelHasFunctionGraph()) {
      expect(rep.tracer).not.toBeNull();
      expect(rep.allocPath).not.toBeNull();
    } else {
      expect(rep.tracer).toBeNull();
      expect(rep.callTrees).toEqual([]);
      expect(rep.unavailable.find((u: { observation: string }) => u.observation === 'call-graph').reason).toMatch(/function_graph/);
    }
    expect(rep.dropStacks.total).toBe(1);
    const path = findPath(rep.dropStacks.tree, ['net_rx_action', 'nf_hook_slow', 'nft_do_chain']);
    expect(path, JSON.stringify(rep.dropStacks.tree).slice(0, 400)).not.toBeNull();
    expect(path!.map((n) => n.count)).toEqual([1, 1, 1]);
    expect(await leftoversSince(before)).toEqual([]);
    expect((await import('node:fs')).readFileSync('/proc/mounts', 'utf8').includes(' tracefs ')).toBe(mountsBefore);
  }, 120_000);

  it('the text report names what could not be observed', async () => {
    const r = await nfscope(['graph', '--port', '2571', '--family', 'ipv6', '--firewall', 'nft']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/kernel stacks of the drop \(skb:kfree_skb\), 1 drop/);
    expect(r.stdout).toMatch(/nft_do_chain_ipv6/);
  }, 120_000);

  it('bad options: exit 2 before anything is created', async () => {
    const before = machineState();
    for (const args of [
      ['--port', '2571', '--root', 'nf_conntrack_in;id'],
      ['--port', '2571', '--root', '$(id)'],
      ['--port', '2571', '--max-depth', '65'],
      ['--port', '0'],
      [],
    ]) {
      const r = await nfscope(['graph', ...args]);
      expect(r.exitCode, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(/--root|--max-depth|--port/);
    }
    expect(await leftoversSince(before)).toEqual([]);
  });
});
