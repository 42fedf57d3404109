/**
 * Two nfscope runs at once must not interfere: their sandboxes have random
 * names and addresses, and the tracefs nfscope mounts is shared, so the first
 * to finish does not unmount it under the others. All succeed, each sees its
 * own drop, and nothing is left behind.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { leftovers, nfscope } from '../helpers/sys.js';
import { expectSchema } from '../helpers/schema.js';

const tracefsMounted = () => readFileSync('/proc/mounts', 'utf8').includes(' tracefs ');

describe('concurrent runs', () => {
  it('three trace-syn and a graph at once: all succeed, each observes its own SYNs', async () => {
    const before = tracefsMounted();
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
    expect(await leftovers()).toEqual([]);
    expect(tracefsMounted()).toBe(before);
  }, 180_000);
});
