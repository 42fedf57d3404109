import { UsageError } from '../lib/errors.js';
import { BACKENDS, FAMILIES, HOOKS_SCHEMA_VERSION, type Backend, type Family, type HooksReport } from '../model/hooks.js';
import { listNamedNetns, netnsLabel, resolveNetns, type NetnsRef } from '../tools/netns.js';
import type { Target } from '../targets/target.js';
import { pickBackend } from '../backends/hooks.js';
import { requireRoot } from '../tools/root.js';

/** What `nfscope hooks` lists: in which netns, which families, through which backend (as typed). */
export interface HooksQuery {
  netns?: string;
  allNetns?: boolean;
  family: string;
  backend: string;
}

export function parseFamilies(v: string): Family[] {
  if (v === 'all') return [...FAMILIES];
  if (!(FAMILIES as readonly string[]).includes(v)) {
    throw new UsageError(`unknown --family '${v}': expected ${FAMILIES.join(', ')} or all`);
  }
  return [v as Family];
}

export function parseBackend(v: string): Backend | 'auto' {
  if (v === 'auto' || (BACKENDS as readonly string[]).includes(v)) return v as Backend | 'auto';
  throw new UsageError(`unknown --backend '${v}': expected auto, ${BACKENDS.join(', ')}`);
}

/** Builds the hooks report(s): the model both renderings share. */
export async function hooksReports(target: Target, o: HooksQuery): Promise<{ reports: HooksReport[]; skipped: string[] }> {
  const families = parseFamilies(o.family);
  const wanted = parseBackend(o.backend);
  if (o.netns !== undefined && o.allNetns) throw new UsageError('--netns and --all-netns exclude each other');
  await requireRoot(target);
  const namespaces: NetnsRef[] = o.allNetns
    ? [{ kind: 'current' }, ...(await listNamedNetns(target)).map((name): NetnsRef => ({ kind: 'named', name }))]
    : [await resolveNetns(target, o.netns)];
  const kernel = ((await target.readFile('/proc/sys/kernel/osrelease')) ?? 'unknown').trim();
  const { backend, skipped } = await pickBackend(target, kernel, wanted);
  const reports: HooksReport[] = [];
  for (const ns of namespaces) {
    const r = await backend.list(target, ns, families);
    reports.push({
      schemaVersion: HOOKS_SCHEMA_VERSION, kernel, netns: netnsLabel(ns), backend: backend.name,
      hooks: r.hooks, warnings: r.warnings,
    });
  }
  return { reports, skipped };
}
