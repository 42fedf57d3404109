import { allSettledOrThrow } from '../lib/settled.js';
import type { Cleanup } from '../lib/cleanup.js';
import { sleep } from '../lib/time.js';
import { freshModules, unloadableNow, type LoadedModule } from '../model/module-undo.js';
import { parseProcModules } from '../parsers/proc-modules.js';
import type { Target } from '../targets/target.js';

/** /proc/modules, read; null without modules (a kernel built without CONFIG_MODULES). */
export async function moduleTable(target: Target): Promise<LoadedModule[] | null> {
  const text = await target.readFile('/proc/modules');
  return text === null ? null : parseProcModules(text);
}

/** Names in /proc/modules, newest first (the kernel lists them so); null without modules. */
export async function loadedModules(target: Target): Promise<string[] | null> {
  return (await moduleTable(target))?.map((m) => m.name) ?? null;
}

/** The longest all of a run's unloads may take: each rmmod is a stop_machine, slow under TCG. */
const UNLOAD_BUDGET_MS = 30_000;

/** Rounds of waiting for a deleted netns to let go of its modules (a kernel worker tears it down a moment later). */
const ROUNDS = 25;
const ROUND_MS = 200;

/**
 * Unloads the fresh modules of nfscope's (model/module-undo.ts) nothing uses, one `rmmod` each,
 * users before what they use, until none is left or none can go. Never `modprobe -r`: it also
 * takes unused dependencies that were loaded before the run (issue 26). Returns what stayed and why.
 */
export async function unloadFresh(
  target: Target, before: ReadonlySet<string>, budgetMs = UNLOAD_BUDGET_MS,
): Promise<{ inUse: string[]; others: string[]; failed: string[] }> {
  const failed: string[] = [];
  const tried = new Set<string>();
  const busy = new Set<string>();
  const deadline = Date.now() + budgetMs;
  for (let round = 0; round < ROUNDS; round++) {
    if (Date.now() >= deadline) {
      const left = freshModules(before, (await moduleTable(target)) ?? []).ours.filter((m) => !tried.has(m) || busy.has(m));
      if (left.length) failed.push(`not unloaded within ${budgetMs / 1000} s (each rmmod waits on the kernel; slow with a tracer on under qemu TCG): ${left.join(' ')}`);
      break;
    }
    const now = await moduleTable(target);
    if (now === null) return { inUse: [], others: [], failed: ['/proc/modules unreadable: modules loaded by the run not checked'] };
    // A module whose rmmod failed is not asked again: its failure is said once, below.
    const go = unloadableNow(before, now).filter((m) => !tried.has(m));
    const fresh = freshModules(before, now);
    if (go.length === 0) {
      const waiting = fresh.ours.filter((m) => !tried.has(m));
      if (waiting.length === 0 || round === ROUNDS - 1) return { inUse: fresh.ours.filter((m) => !tried.has(m) || busy.has(m)), others: fresh.others, failed };
      await sleep(ROUND_MS);
      continue;
    }
    // The modules of one round use none of each other (none has a user): removed at once, each
    // rmmod a guest command of its own (~0.1-0.2 s under qemu TCG), every one awaited to its end.
    for (const m of go) tried.add(m);
    await allSettledOrThrow(go.map(async (m) => {
      // Bounded: module removal waits on the kernel (stop_machine under qemu TCG can be slow).
      const r = await target.exec(['rmmod', m], { timeoutMs: Math.max(1000, Math.min(20_000, deadline - Date.now())) });
      if (r.exitCode === 0) return;
      // Taken by someone between the read and the rmmod (kmod: "Module m is in use"): in use, not a failure.
      if (/in use/i.test(r.stderr)) {
        busy.add(m);
        return;
      }
      // Another nfscope run on the same kernel saw the same module appear during its run and
      // removed it first, or is removing it (kmod 30: "is not currently loaded", or exit 1 with
      // nothing said while the module is Unloading; seen with two trace-syn at once in one
      // Debian 6.1 guest): what the kernel holds now decides, not rmmod's message.
      const after = r.timedOut ? undefined : await moduleTable(target);
      const still = after?.find((x) => x.name === m);
      if (after && !still) return;
      // Going (its remover holds it in Unloading until delete_module returns): looked at again next
      // round, gone by then, or Live again if that remover failed, and then tried again.
      if (still?.state === 'Unloading') {
        tried.delete(m);
        return;
      }
      if (still && (still.state !== 'Live' || still.refs > 0 || still.usedBy.length > 0)) busy.add(m);
      else failed.push(`rmmod ${m}: ${r.timedOut ? 'timed out' : `exit ${r.exitCode}: ${r.stderr.trim().split('\n')[0]}`}`);
    }));
  }
  const now = (await moduleTable(target)) ?? [];
  const fresh = freshModules(before, now);
  return { inUse: fresh.ours.filter((m) => !tried.has(m) || busy.has(m)), others: fresh.others, failed };
}

/**
 * Modules the kernel loads on its own while nfscope works (a conntrack rule
 * pulls in nf_conntrack, xt_conntrack, nf_defrag_ipv4; `conntrack -L` pulls
 * in nf_conntrack_netlink) are unloaded at the end, if nothing else uses
 * them by then (unloadFresh). Call it first in a run: its undo then runs last, after the
 * namespaces whose rules held the modules are gone. In-process only: after a
 * SIGKILL nfscope cannot tell which modules were its own, and `nfscope
 * cleanup` leaves modules alone.
 */
export async function unloadModulesLoadedDuring(target: Target, cleanup: Cleanup, snapshot?: string[] | null): Promise<void> {
  // The snapshot is taken by the caller first thing (capability probes run `nft`, which loads nfnetlink).
  const before = snapshot === undefined ? await loadedModules(target) : snapshot;
  if (before === null) return;
  const had = new Set(before);
  cleanup.push('unload the modules the run made the kernel load', async () => {
    const r = await unloadFresh(target, had);
    if (r.others.length) process.stderr.write(`nfscope: modules loaded during the run that nfscope does not unload (another program's, or veth), left alone: ${r.others.join(' ')}\n`);
    if (r.inUse.length) process.stderr.write(`nfscope: modules loaded during the run and still in use, left loaded: ${r.inUse.join(' ')}\n`);
    if (r.failed.length) throw new Error(r.failed.join('; '));
  });
}

/**
 * `rmmod m`, retried while the module is in use for up to ROUNDS × ROUND_MS (a deleted netns holds
 * nf_conntrack until a kernel worker has torn it down). Only m: its dependencies stay.
 */
export async function rmmodWhenFree(target: Target, m: string): Promise<'removed' | 'not loaded' | string> {
  for (let round = 0; ; round++) {
    const now = await moduleTable(target);
    if (now === null) return '/proc/modules unreadable';
    if (!now.some((x) => x.name === m)) return round === 0 ? 'not loaded' : 'removed';
    const r = await target.exec(['rmmod', m], { timeoutMs: 20_000 });
    if (r.exitCode === 0) return 'removed';
    const why = `rmmod ${m}: ${r.timedOut ? 'timed out' : `exit ${r.exitCode}: ${r.stderr.trim().split('\n')[0]}`}`;
    if (!/in use/i.test(r.stderr) || round >= ROUNDS - 1) return why;
    await sleep(ROUND_MS);
  }
}
