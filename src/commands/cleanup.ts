import { CommandFailedError, showCommand } from '../lib/errors.js';
import type { StaleJournal } from '../lib/journal.js';
import type { Target } from '../targets/target.js';
import { cleanupJournals } from '../experiments/cleanup.js';
import { CLEANUP_SCHEMA_VERSION, type CleanupReport } from '../model/cleanup.js';
import { renderCleanup } from '../render/cleanup.js';

export interface CleanupOptions {
  dryRun?: boolean;
  json?: boolean;
}

/** Opens where a journal's run ran: here, the VM `vm up` left up (if it is that run's), or its ssh/vagrant target. */
async function openFor(j: StaleJournal): Promise<{ target: Target | null; note?: string }> {
  const spec = j.header.target;
  if (spec === 'local') return { target: new (await import('../targets/local.js')).LocalTarget() };
  if (spec.startsWith('qemu:')) {
    const { liveState } = await import('../vm/persistent.js');
    const up = await liveState();
    if (!up || up.requested !== spec.slice(5)) return { target: null, note: 'the VM it ran in is gone, and its changes with it' };
    const { QemuTarget } = await import('../targets/qemu.js');
    return { target: await QemuTarget.boot({ kernelPackage: up.requested }) };
  }
  const { openTarget } = await import('../targets/index.js');
  return { target: await openTarget(spec) };
}

export async function runCleanup(o: CleanupOptions): Promise<void> {
  const { requireRoot } = await import('../tools/root.js');
  await requireRoot(new (await import('../targets/local.js')).LocalTarget());
  const reports = await cleanupJournals(o, openFor);
  if (o.json) {
    const out: CleanupReport = { schemaVersion: CLEANUP_SCHEMA_VERSION, journals: reports };
    process.stdout.write(JSON.stringify(out, null, 2) + '\n');
  } else {
    process.stdout.write(renderCleanup(reports, showCommand));
  }
  // A change left in a netns cleanup could not reach is not undone: said by the exit status too.
  if (reports.some((r) => r.untrusted || r.actions.some((a) => /^(failed|refused)/.test(a.result) || a.result === 'skipped (in another netns)'))) {
    throw new CommandFailedError(['nfscope', 'cleanup'], 1, '', 'some changes could not be undone or were refused: the journal is kept; see above');
  }
}
