import { resolveTarget } from './auto-target.js';
import { UsageError } from '../lib/errors.js';
import { intOption } from '../lib/validate.js';
import { withTarget } from '../targets/index.js';
import { requireRoot } from '../tools/root.js';
import { netnsInode, resolveNetns } from '../tools/netns.js';
import type { LifetimesSpec } from '../experiments/lifetimes.js';

export interface LifetimesOptions {
  port?: string;
  all?: boolean;
  duration: string;
  netns?: string;
  target?: string;
  kernel?: string;
  json?: boolean;
}

export function parseLifetimesOptions(o: LifetimesOptions): Omit<LifetimesSpec, 'netns'> {
  if ((o.port === undefined) === !o.all) throw new UsageError('give either --port N or --all');
  return {
    port: o.port === undefined ? null : intOption('--port', o.port, 1, 65535),
    durationS: intOption('--duration', o.duration, 1, 3600),
  };
}

export async function runLifetimes(o: LifetimesOptions): Promise<void> {
  const spec: LifetimesSpec = parseLifetimesOptions(o);
  const progress = (m: string) => process.stderr.write(`… ${m}\n`);
  const { lifetimes } = await import('../experiments/lifetimes.js');
  const report = await withTarget(await resolveTarget(o.target, progress), { kernel: o.kernel, progress }, async (target) => {
    await requireRoot(target);
    if (o.netns !== undefined) {
      spec.netns = { inode: await netnsInode(target, await resolveNetns(target, o.netns)), label: o.netns };
    }
    return lifetimes(target, spec, progress);
  });
  if (o.json) process.stdout.write(JSON.stringify(report, null, 2) + '\n');
  else process.stdout.write((await import('../render/lifetimes.js')).renderLifetimes(report) + '\n');
}
