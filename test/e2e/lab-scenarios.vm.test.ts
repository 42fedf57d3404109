/**
 * nfscope lab --scenario in the micro-VM on Debian's 6.1 (the CI kernel of issue 29): every
 * scenario on one VM left up (`vm up`, one boot), each claim confirmed; the VM goes down after,
 * whatever happens. The host test (lab-scenarios.host.test.ts) runs them on 6.18.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nfscope } from '../helpers/sys.js';
import { qemuProcesses } from '../helpers/qemu.js';
import { expectSchema } from '../helpers/schema.js';

const KERNEL = '6.1';
const SCENARIOS = ['early-chain', 'equal-priority', 'notrack', 'mixed-backends', 'stale-udp'] as const;
let up = false;

beforeAll(async () => {
  const r = await nfscope(['vm', 'up', '--kernel', KERNEL, '--ttl', '900'], { timeoutMs: 120_000 });
  expect(r.exitCode, r.stderr).toBe(0);
  up = true;
}, 150_000);

afterAll(async () => {
  if (up) {
    const down = await nfscope(['vm', 'down'], { timeoutMs: 60_000 });
    expect(down.exitCode, down.stderr).toBe(0);
  }
  expect(await qemuProcesses()).toEqual([]);
}, 90_000);

describe('lab scenarios on Debian 6.1 in the micro-VM (one boot)', () => {
  it.each(SCENARIOS)('%s: every claim confirmed', async (name) => {
    const t0 = Date.now();
    const r = await nfscope(['lab', '--target', 'qemu', '--kernel', KERNEL, '--scenario', name, '--port', '2595', '--json'], { timeoutMs: 180_000 });
    expect(r.exitCode, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as { scenario: string; kernel: string; claims: { id: string; status: string; reason?: string }[] };
    expectSchema('lab-scenario', report);
    expect(report.kernel).toMatch(/^6\.1\./);
    expect(report.claims.map((c) => `${c.id}: ${c.status}${c.reason ? ` (${c.reason})` : ''}`)).toEqual(report.claims.map((c) => `${c.id}: confirmed`));
    expect(report.claims).toHaveLength(3);
    process.stderr.write(`lab --scenario ${name} on ${report.kernel}: ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
  }, 180_000);
});
