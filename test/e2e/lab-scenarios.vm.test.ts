/**
 * nfscope lab --scenario all in the micro-VM on Debian's 6.1 (the CI kernel of issue 29): every
 * scenario in one command, each claim confirmed: seven in one VM whose vCPUs take turns where its qemu
 * is not patching-safe (one listing server for them all), udp-race in one whose vCPUs run at once (vm/qemu-argv.ts says why two). The host
 * test (lab-scenarios.host.test.ts) runs them on 6.18, one by one and all at once.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { nfscope } from '../helpers/sys.js';
import { qemuProcesses } from '../helpers/qemu.js';
import { expectSchema } from '../helpers/schema.js';
import { tcgPatchingSafe } from '../../src/vm/qemu-argv.js';
import { parseVersion } from '../../src/parsers/versions.js';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

afterAll(async () => {
  expect(await qemuProcesses()).toEqual([]);
});

describe('lab scenarios on Debian 6.1 in the micro-VM', () => {
  it('--scenario all: every scenario, every claim confirmed, its fix too', async () => {
    const t0 = Date.now();
    const r = await nfscope(['lab', '--target', 'qemu', '--kernel', '6.1', '--scenario', 'all', '--port', '2595', '--json'], { timeoutMs: 400_000 });
    expect(r.exitCode, r.stderr).toBe(0);
    const set = JSON.parse(r.stdout) as { reports: { scenario: string; kernel: string; durationS: number; claims: { id: string; phase: string; status: string; reason?: string }[] }[] };
    expectSchema('lab-scenarios', set);
    expect(set.reports.map((x) => x.scenario)).toEqual(['early-chain', 'equal-priority', 'notrack', 'mixed-backends', 'stale-udp', 'invalid-rst', 'table-full', 'udp-race']);
    const phases: Record<string, string[]> = {
      'invalid-rst': ['problem', 'problem', 'problem', 'fix', 'fix'],
      notrack: ['problem', 'problem', 'problem', 'fix'],
      'table-full': ['problem', 'problem', 'problem', 'fix'],
      'udp-race': ['problem', 'problem', 'problem', 'fix'],
    };
    for (const x of set.reports) {
      expect(x.kernel).toMatch(/^6\.1\./);
      expect(x.claims.map((c) => `${c.id}: ${c.status}${c.reason ? ` (${c.reason})` : ''}`)).toEqual(x.claims.map((c) => `${c.id}: confirmed`));
      expect(x.claims.map((c) => c.phase)).toEqual(phases[x.scenario] ?? ['problem', 'problem', 'fix']);
    }
    // Two VMs, in this order; one listing server (udp-race lists no hooks).
    // The first takes turns unless its qemu is patching-safe: on a Debian 12 host whose qemu is not,
    // the one nfscope fetches from bookworm-backports (vm/emulator.ts), with no warning; udp-race's
    // runs them at once whatever the qemu.
    const boots = r.stderr.match(/booting linux-image.*/g) ?? [];
    const sys = parseVersion(execFileSync('qemu-system-x86_64', ['--version'], { encoding: 'utf8' }))!;
    const backports = !tcgPatchingSafe(sys) && /^VERSION_CODENAME=bookworm$/m.test(readFileSync('/etc/os-release', 'utf8')) && process.env.NFSCOPE_QEMU === undefined;
    expect(r.stderr).not.toMatch(/warning: bookworm-backports' qemu/);
    expect(boots).toEqual([
      expect.stringContaining(backports || tcgPatchingSafe(sys) ? 'TCG, a host thread per vCPU' : 'TCG, its vCPUs taking turns on one host thread'),
      expect.stringContaining('TCG, a host thread per vCPU'),
    ]);
    if (backports) for (const b of boots) expect(b).toMatch(/; qemu: bookworm-backports' \S+~bpo12/);
    expect(r.stderr.match(/starting the hook listing server/g)).toHaveLength(1);
    // Each scenario's own time (its sandbox, traffic, reads and undo), as the report gives it.
    for (const x of set.reports) expect(x.durationS).toBeGreaterThan(0);
    process.stderr.write(`lab --scenario all on ${set.reports[0]!.kernel}: ${((Date.now() - t0) / 1000).toFixed(1)} s; ${set.reports.map((x) => `${x.scenario} ${x.durationS} s`).join(', ')}\n`);
  }, 420_000);
});
