import type { Cleanup } from '../lib/cleanup.js';
import { sleep } from '../lib/time.js';
import type { Target } from '../targets/target.js';

/** Names in /proc/modules, newest first (the kernel lists them so); null without modules. */
export async function loadedModules(target: Target): Promise<string[] | null> {
  const text = await target.readFile('/proc/modules');
  if (text === null) return null;
  return text.split('\n').map((l) => l.split(' ')[0]!).filter(Boolean);
}

/**
 * Modules the kernel loads on its own while nfscope works (a conntrack rule
 * pulls in nf_conntrack, xt_conntrack, nf_defrag_ipv4; `conntrack -L` pulls
 * in nf_conntrack_netlink) are unloaded at the end, if nothing else uses
 * them by then. Call it first in a run: its undo then runs last, after the
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
    const now = (await loadedModules(target)) ?? [];
    const fresh = now.filter((m) => !had.has(m));
    if (fresh.length === 0) return;
    // modprobe -r takes the named modules and the dependencies they alone used. A deleted netns
    // is torn down by a kernel worker a moment later, and holds its modules until then: a few
    // rounds. One still in use after that is said, not treated as a failure.
    let left = fresh;
    for (let round = 0; round < 10 && left.length; round++) {
      if (round) await sleep(200);
      // Bounded: module removal waits on the kernel (stop_machine under qemu TCG can be slow).
      const r = await target.exec(['modprobe', '-r', '-q', ...left], { timeoutMs: 20_000 });
      left = ((await loadedModules(target)) ?? []).filter((m) => !had.has(m));
      if (r.timedOut) break;
    }
    if (left.length) process.stderr.write(`nfscope: modules loaded during the run and still in use, left loaded: ${left.join(' ')}\n`);
  });
}
