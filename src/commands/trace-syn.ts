import { resolveTarget } from './auto-target.js';
import { UsageError } from '../lib/errors.js';
import { choiceOption, intOption } from '../lib/validate.js';
import { withTarget } from '../targets/index.js';
import { requireRoot } from '../tools/root.js';
import { parseNetnsArg, resolveNetns } from '../tools/netns.js';
import type { TraceSynSpec } from '../experiments/trace-syn.js';

export interface TraceSynOptions {
  port?: string;
  family: string;
  count: string;
  firewall: string;
  afterConfirm?: boolean;
  inPlace?: boolean;
  netns?: string;
  target?: string;
  kernel?: string;
  json?: boolean;
}

/** Every option is checked before anything is created (exit 2 on bad input). */
export function parseTraceSynOptions(o: TraceSynOptions): TraceSynSpec {
  if (o.port === undefined) throw new UsageError('--port is required (1-65535)');
  const spec: TraceSynSpec = {
    port: intOption('--port', o.port, 1, 65535),
    family: choiceOption('--family', o.family, ['ipv4', 'ipv6'] as const),
    count: intOption('--count', o.count, 1, 1000),
    firewall: choiceOption('--firewall', o.firewall, ['iptables', 'nft'] as const),
    afterConfirm: Boolean(o.afterConfirm),
    inPlace: Boolean(o.inPlace),
  };
  if (o.netns !== undefined) {
    if (!o.inPlace) throw new UsageError('--netns needs --in-place: without it the server is a namespace of nfscope\'s own');
    parseNetnsArg(o.netns); // its form, before anything boots or opens
  }
  return spec;
}

export async function runTraceSyn(o: TraceSynOptions): Promise<void> {
  const spec = parseTraceSynOptions(o);
  const progress = (m: string) => process.stderr.write(`… ${m}\n`);
  const { traceSyn } = await import('../experiments/trace-syn.js');
  const report = await withTarget(await resolveTarget(o.target, progress), { kernel: o.kernel, progress }, async (target) => {
    await requireRoot(target);
    // A --netns the target does not have is a usage error (exit 2) before anything is created.
    const inPlaceNetns = o.netns !== undefined ? await resolveNetns(target, o.netns) : undefined;
    return traceSyn(target, { ...spec, ...(inPlaceNetns ? { inPlaceNetns } : {}) }, progress);
  });
  if (o.json) {
    process.stdout.write(JSON.stringify(report, null, 2) + '\n');
  } else {
    const { renderTraceSyn } = await import('../render/trace-syn.js');
    process.stdout.write(renderTraceSyn(report) + '\n');
  }
}
