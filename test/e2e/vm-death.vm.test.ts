/**
 * A guest that dies explains itself (issue 25): the kernel is made to panic
 * (sysrq 'c': drivers/tty/sysrq.c's panic("sysrq triggered crash")),
 * and `nfscope vm run` exits non-zero, says the guest panicked, shows the panic's
 * lines from the kept console and qemu's exit, and leaves no qemu behind. The kept
 * console is the test's to remove.
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { nfscope } from '../helpers/sys.js';
import { VM_KERNELS, qemuProcesses } from '../helpers/qemu.js';

const kept: string[] = [];
afterAll(() => {
  for (const d of kept) rmSync(d, { recursive: true, force: true });
});

describe.each(VM_KERNELS)('a guest that panics, Debian $era', (k) => {
  it('vm run exits non-zero, says the guest panicked, shows the panic and qemu\'s exit, leaves no qemu', { timeout: 240_000 }, async () => {
    expect(await qemuProcesses()).toEqual([]);
    const r = await nfscope(['vm', 'run', '--kernel', k.pkg, '--', 'sh', '-c', 'echo c > /proc/sysrq-trigger'], { timeoutMs: 180_000 });
    process.stderr.write(`--- vm run on ${k.era}: exit ${r.exitCode}; stderr:\n${r.stderr}\n---\n`);
    const path = /guest console kept in (\/\S+\/console\.log)/.exec(r.stderr)?.[1];
    if (path) kept.push(dirname(path));
    expect(r.exitCode).not.toBe(0);
    expect(r.exitCode).not.toBeNull(); // exited, not killed by the test's timeout
    // The one-line account the failed command carries.
    expect(r.stderr).toMatch(/the VM went away: the guest kernel panicked: "\[ *[\d.]+\] Kernel panic - not syncing: sysrq triggered crash"; qemu exited with status 0/);
    // The console's lines: the panic and where it came from (the write to /proc/sysrq-trigger).
    const block = r.stderr.split('\n').filter((l) => l.startsWith('  | '));
    expect(block.some((l) => /Kernel panic - not syncing: sysrq triggered crash/.test(l)), r.stderr).toBe(true);
    expect(block.some((l) => /sysrq_handle_crash|write_sysrq_trigger/.test(l)), r.stderr).toBe(true);
    // The console is kept where the account says, with the panic in it.
    expect(path, r.stderr).toBeDefined();
    expect(existsSync(path!)).toBe(true);
    expect(readFileSync(path!, 'utf8')).toMatch(/Kernel panic - not syncing: sysrq triggered crash/);
    expect(await qemuProcesses()).toEqual([]);
  });
});

/**
 * vm up, then `disturb` (given qemu's and its timeout's pids), then vm down: asserts vm down says so
 * and leaves no qemu. Whatever happens, nothing of the test stays (a qemu vm down missed is killed).
 */
async function upDisturbDown(disturb: (pids: { qemu: number; timeout: number }) => Promise<void>): Promise<void> {
  expect(await qemuProcesses()).toEqual([]);
  const up = await nfscope(['vm', 'up', '--kernel', VM_KERNELS[1].pkg, '--ttl', '600'], { timeoutMs: 180_000 });
  let qemuPid = 0;
  let down: Awaited<ReturnType<typeof nfscope>> | null = null;
  let left: string[] = [];
  try {
    expect(up.exitCode, up.stderr).toBe(0);
    // qemu itself, not `timeout … qemu-system-x86_64 …` (its parent, whose command line names it too).
    const procs = await qemuProcesses();
    qemuPid = Number(procs.find((l) => /^\d+ \S*qemu-system-x86_64 /.test(l))?.split(' ')[0]);
    const timeoutPid = Number(procs.find((l) => /^\d+ timeout /.test(l))?.split(' ')[0]);
    expect(qemuPid).toBeGreaterThan(0);
    expect(timeoutPid).toBeGreaterThan(0);
    await disturb({ qemu: qemuPid, timeout: timeoutPid });
    down = await nfscope(['vm', 'down'], { timeoutMs: 60_000 });
    // A zombie ("<defunct>") has died; init reaps it, not vm down.
    left = (await qemuProcesses()).filter((l) => !l.includes('<defunct>'));
  } finally {
    if (qemuPid > 0) try { process.kill(qemuPid, 'SIGKILL'); } catch { /* gone: what vm down should do */ }
    if (!down) await nfscope(['vm', 'down'], { timeoutMs: 60_000 });
  }
  expect(down.stdout, down.stderr).toMatch(/VM down/);
  expect(left).toEqual([]);
}

describe('a VM left up that stops answering', () => {
  it('vm down kills qemu itself, not only the timeout that bounds its life', { timeout: 240_000 }, async () => {
    // Frozen from the host: its agent cannot answer the shutdown, so vm down must kill.
    await upDisturbDown(async ({ qemu }) => {
      process.kill(qemu, 'SIGSTOP');
    });
  });

  it('a timeout killed alone (qemu goes on without its TTL): vm status still shows the VM, and vm down kills qemu', { timeout: 240_000 }, async () => {
    await upDisturbDown(async ({ qemu, timeout }) => {
      process.kill(timeout, 'SIGKILL');
      for (let i = 0; i < 50 && (await qemuProcesses()).some((l) => l.startsWith(`${timeout} `)); i++) await new Promise((r) => setTimeout(r, 100));
      // qemu runs on, reparented: the VM is still up as far as the user can tell.
      const status = JSON.parse((await nfscope(['vm', 'status', '--json'])).stdout);
      expect(status.up?.qemu?.pid).toBe(qemu);
    });
  });
});
