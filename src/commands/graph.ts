import { resolveTarget } from './auto-target.js';
import { UsageError } from '../lib/errors.js';
import { choiceOption, intOption } from '../lib/validate.js';
import { withTarget } from '../targets/index.js';
import { requireRoot } from '../tools/root.js';
import { validFunctionName } from '../tools/ftrace.js';
import type { GraphSpec } from '../experiments/graph.js';

export interface GraphOptions {
  port?: string;
  family: string;
  firewall: string;
  root?: string;
  maxDepth?: string;
  target?: string;
  kernel?: string;
  json?: boolean;
}

export function parseGraphOptions(o: GraphOptions): { spec: GraphSpec; maxDepth: number | undefined } {
  if (o.port === undefined) throw new UsageError('--port is required (1-65535)');
  const spec: GraphSpec = {
    port: intOption('--port', o.port, 1, 65535),
    family: choiceOption('--family', o.family, ['ipv4', 'ipv6'] as const),
    firewall: choiceOption('--firewall', o.firewall, ['iptables', 'nft'] as const),
  };
  if (o.root !== undefined) {
    const roots = o.root.split(',');
    const bad = roots.find((r) => !validFunctionName(r));
    if (bad !== undefined) throw new UsageError(`invalid --root ${JSON.stringify(bad.slice(0, 40))}: expected kernel function names separated by commas`);
    if (roots.length > 16) throw new UsageError('--root: at most 16 functions');
    spec.roots = roots;
  }
  const maxDepth = o.maxDepth === undefined ? undefined : intOption('--max-depth', o.maxDepth, 0, 64);
  return { spec, maxDepth };
}

export async function runGraph(o: GraphOptions): Promise<void> {
  const { spec, maxDepth } = parseGraphOptions(o);
  const progress = (m: string) => process.stderr.write(`… ${m}\n`);
  const { graph } = await import('../experiments/graph.js');
  const report = await withTarget(await resolveTarget(o.target, progress), { kernel: o.kernel, progress }, async (target) => {
    await requireRoot(target);
    return graph(target, spec, progress);
  });
  if (o.json) {
    process.stdout.write(JSON.stringify(report, null, 2) + '\n');
    return;
  }
  const { renderGraph } = await import('../render/graph.js');
  process.stdout.write(renderGraph(report, { maxDepth, color: process.stdout.isTTY }) + '\n');
}
