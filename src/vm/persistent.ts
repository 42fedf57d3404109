import { readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { CapabilityError, UsageError } from '../lib/errors.js';
import { childrenOf, processStartTime, procStats } from '../lib/proc.js';
import { delay, sleep } from '../lib/time.js';
import { AgentClient } from './agent-client.js';
import { bootVm, CONSOLE_DIR_PREFIX, VM_RUN_ROOT, type Vm } from './boot.js';
import type { Host } from '../lib/target.js';
import type { VmState } from '../model/vm.js';

export const STATE_FILE = join(VM_RUN_ROOT, 'current.json');

/**
 * The VM's process still runs: the same pid *and* start time as when it was
 * started (issue 15: after the TTL, a pid alone could name any new process,
 * and `vm down` would have SIGKILLed it). A state file written before start
 * times were recorded names no process.
 */
function alive(s: Pick<VmState, 'pid' | 'startTime' | 'qemu'>): boolean {
  return (typeof s.startTime === 'string' && processStartTime(s.pid) === s.startTime) || qemuAlive(s);
}

function qemuAlive(s: Pick<VmState, 'qemu'>): boolean {
  return !!s.qemu && typeof s.qemu.startTime === 'string' && processStartTime(s.qemu.pid) === s.qemu.startTime;
}

/** Some process of group pgid still runs (not a zombie), from /proc/PID/stat (state, field 3; pgrp, 5). */
function groupRuns(pgid: number): boolean {
  for (const p of procStats()) if (Number(p.fields[2]) === pgid && p.fields[0] !== 'Z') return true;
  return false;
}

/**
 * Removes a VM's run directory and its console's directory, and only those: a directory right
 * under VM_RUN_ROOT, and one named CONSOLE_DIR_PREFIX… right under the temporary directory.
 */
async function removeRunDir(s: VmState): Promise<void> {
  if (typeof s.runDir === 'string' && dirname(s.runDir) === VM_RUN_ROOT && !s.runDir.includes('..')) await rm(s.runDir, { recursive: true, force: true });
  const con = typeof s.consoleLog === 'string' ? dirname(s.consoleLog) : '';
  if (dirname(con) === tmpdir() && basename(con).startsWith(CONSOLE_DIR_PREFIX) && !con.includes('..')) await rm(con, { recursive: true, force: true });
}

/** The running VM's state; a stale file (its qemu gone) is removed. */
export async function liveState(): Promise<VmState | null> {
  const text = await readFile(STATE_FILE, 'utf8').catch(() => null);
  if (!text) return null;
  const s = JSON.parse(text) as VmState;
  if (alive(s)) return s;
  await rm(STATE_FILE, { force: true });
  await removeRunDir(s);
  return null;
}

export async function vmUp(host: Host, requested: string, ttlSeconds: number, progress: (m: string) => void, concurrentCpus = false): Promise<VmState> {
  const cur = await liveState();
  if (cur) throw new UsageError(`a VM is already up (${cur.kernel.package}, pid ${cur.pid}): 'nfscope vm down' first`);
  const vm = await bootVm({ host, kernelPackage: requested, persistent: { ttlSeconds }, concurrentCpus, progress });
  vm.agent.disconnect();
  const qemus = childrenOf(vm.pid!, /^qemu-system/);
  const s: VmState = {
    qemu: qemus.length === 1 ? qemus[0]! : null,
    pid: vm.pid!, startTime: processStartTime(vm.pid!) ?? '', socket: join(vm.runDir, 'agent.sock'), runDir: vm.runDir, consoleLog: vm.consoleLog, requested,
    kernel: vm.kernel, guestKernel: vm.guestKernel, accel: vm.accel, concurrentCpus: vm.concurrentCpus, bootMs: vm.bootMs, started: new Date().toISOString(), ttlSeconds,
  };
  await writeFile(STATE_FILE, JSON.stringify(s, null, 2));
  return s;
}

/** Connects to the VM left up; closing the target only hangs up. */
export async function attachVm(s: VmState): Promise<Vm> {
  const agent = new AgentClient();
  await agent.connect(s.socket, Date.now() + 5000);
  const ping = await Promise.race([agent.request('exec', ['true'], { timeout: 10_000 }).done, delay(15_000, null)]);
  if (!ping || ping.exitCode !== 0) {
    agent.disconnect();
    throw new CapabilityError(`the VM left up (pid ${s.pid}) does not answer; 'nfscope vm down' and try again`);
  }
  return {
    kernel: s.kernel, accel: s.accel, concurrentCpus: s.concurrentCpus ?? s.accel === 'kvm', agent, runDir: s.runDir, consoleLog: s.consoleLog, bootMs: 0, guestKernel: s.guestKernel, pid: s.pid,
    shutdown: async () => agent.disconnect(),
  };
}

/** Shuts the VM down (agent first, then SIGKILL), removes its state. false when none was up. */
export async function vmDown(): Promise<boolean> {
  const s = await liveState();
  if (!s) return false;
  try {
    const agent = new AgentClient();
    await agent.connect(s.socket, Date.now() + 3000);
    await agent.shutdown(5000);
  } catch {
    /* not answering: killed below */
  }
  for (let i = 0; i < 100 && alive(s); i++) await sleep(100);
  // s.pid is `timeout`'s (the TTL), qemu its child: timeout leads its own process group (GNU
  // timeout's setpgid, and spawnDaemon's new session), so the group's SIGKILL reaches qemu too.
  if (alive(s)) {
    // The group only while its leader is the recorded timeout (pid and start time), never a pid reused.
    if (processStartTime(s.pid) === s.startTime) process.kill(-s.pid, 'SIGKILL');
    // qemu by itself too: one whose timeout was killed alone is no longer in a group nfscope can name.
    if (qemuAlive(s)) process.kill(s.qemu!.pid, 'SIGKILL');
    // Returns once no process of the group runs (a zombie has died: init reaps it, not us), bounded.
    for (let i = 0; i < 50 && (groupRuns(s.pid) || qemuAlive(s)); i++) await sleep(100);
  }
  await rm(STATE_FILE, { force: true });
  await removeRunDir(s);
  return true;
}
