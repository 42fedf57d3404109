import { execa } from 'execa';
import { expect } from 'vitest';
import type { Target } from '../../src/targets/target.js';
import { spawnSync } from 'node:child_process';

/** Kernels the VM suite boots: Debian's 6.1 (ipv4_confirm era) and 6.12 (nf_confirm era). */
export const VM_KERNELS = [
  { pkg: 'linux-image-amd64', era: '6.1', confirm: 'ipv4_confirm', confirm6: 'ipv6_confirm' },
  { pkg: 'linux-image-6.12-amd64', era: '6.12', confirm: 'nf_confirm', confirm6: 'nf_confirm' },
] as const;

/**
 * The kernel matrix (issue 12): each --kernel alias, and the release it must boot. The lab runs on
 * every one in CI (test/e2e/lab.vm.test.ts); the other VM tests on VM_KERNELS above. `latest` is
 * whatever sid holds the day its lists are fetched: any release.
 */
export const MATRIX_KERNELS = [
  { pkg: '5.10', era: '5.10', release: /^5\.10\./ },
  { pkg: '6.1', era: '6.1', release: /^6\.1\./ },
  { pkg: '6.12', era: '6.12', release: /^6\.12\./ },
  { pkg: 'latest', era: 'latest (sid)', release: /^\d+\.\d+/ },
] as const;

function pgrepQemu(stdout: string): string[] {
  return stdout.split('\n').filter((l) => l.trim() && !l.includes('pgrep'));
}

/**
 * qemu processes that ran before this test file (each file imports this module afresh): the
 * classroom VM's (libvirt's qemu), a user's own `nfscope vm up`. Not the file's: a test asserts
 * that it left none of its own, not that the machine has none (issue 25: the classroom VM up
 * failed every VM test's check).
 */
const BEFORE = (() => {
  const r = spawnSync('pgrep', ['-a', '-f', 'qemu-system'], { encoding: 'utf8' });
  if (r.error || (r.status !== 0 && r.status !== 1)) throw new Error(`pgrep -a -f qemu-system: ${r.error?.message ?? `exit ${r.status}: ${r.stderr}`}`);
  return new Set(pgrepQemu(r.stdout));
})();

/** qemu processes on the host that were not there when this test file began: the suite must leave none. */
export async function qemuProcesses(): Promise<string[]> {
  const r = await execa('pgrep', ['-a', '-f', 'qemu-system'], { reject: false });
  // pgrep: 0 found, 1 none; anything else is a failure, not "none".
  if (r.exitCode !== 0 && r.exitCode !== 1) throw new Error(`pgrep -a -f qemu-system: exit ${r.exitCode}: ${r.stderr}`);
  return pgrepQemu(r.stdout).filter((l) => !BEFORE.has(l));
}

/**
 * Runs a VM test's body within a budget shorter than the test's own timeout. When the budget runs
 * out, the failure carries the evidence (the agent requests still unanswered, with their age, and
 * the guest console's account) instead of vitest's bare "Test timed out": graph.vm's busy-tracer
 * case timed out so in CI with nothing to say why. The caller's `finally` still closes the VM.
 */
export async function withinBudget<T>(t: { vm: { agent: { unanswered(): string[]; account(): Promise<string> } } }, budgetMs: number, body: () => Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const waiting = t.vm.agent.unanswered();
      void t.vm.agent.account().then((why) => reject(new Error(
        `the test's budget of ${budgetMs / 1000} s ran out; unanswered: ${waiting.length ? waiting.join('; ') : 'none (the time went on the host side)'}; the guest: ${why}`,
      )));
    }, budgetMs);
  });
  try {
    return await Promise.race([body(), expired]);
  } finally {
    clearTimeout(timer);
  }
}

/** argv in the guest (or any target), which must exit 0: its stdout. */
export async function guestSh(t: { exec: Target['exec'] }, argv: string[]): Promise<string> {
  const r = await t.exec(argv, { timeoutMs: 60_000 });
  expect(r.exitCode, `${argv.join(' ')}: ${r.stderr}`).toBe(0);
  return r.stdout;
}

/** The guest's module names, sorted, read from /proc/modules by the test itself (not nfscope's reader). */
export async function guestModules(t: { exec: Target['exec'] }): Promise<string[]> {
  return (await guestSh(t, ['cat', '/proc/modules'])).split('\n').map((l) => l.split(' ')[0]!).filter(Boolean).sort();
}
