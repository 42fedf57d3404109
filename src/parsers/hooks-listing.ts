/**
 * A saved `nfscope hooks --json` (one namespace) or `--all-netns --json` (several) → its
 * reports, checked enough that a diff never reads something else as an empty listing. Pure.
 */
import { ParseError } from '../lib/errors.js';
import { HOOKS_SCHEMA_VERSION, type HooksReport } from '../model/hooks.js';
import { isObj, parseJsonBounded } from './json-guard.js';


function report(v: unknown, what: string): HooksReport {
  const bad = (why: string) => new ParseError(what, 1, JSON.stringify(v).slice(0, 80), why);
  if (!isObj(v) || typeof v.kernel !== 'string' || typeof v.netns !== 'string' || !Array.isArray(v.hooks)) throw bad('not a hooks report: no kernel, netns or hooks (`nfscope hooks --json` output is)');
  if (v.schemaVersion !== HOOKS_SCHEMA_VERSION) throw bad(`schemaVersion ${String(v.schemaVersion)}, this nfscope reads ${HOOKS_SCHEMA_VERSION}`);
  for (const h of v.hooks) {
    if (!isObj(h) || typeof h.family !== 'string' || typeof h.hook !== 'string' || !Array.isArray(h.entries)) throw bad('a hook without family, hook or entries');
    for (const e of h.entries) if (!isObj(e) || typeof e.priority !== 'number' || typeof e.callback !== 'string') throw bad('an entry without priority or callback');
  }
  return v as unknown as HooksReport;
}

export function parseHooksListing(text: string, what: string): HooksReport[] {
  const v = parseJsonBounded(text, what, 1);
  if (isObj(v) && Array.isArray(v.reports)) return v.reports.map((r) => report(r, what));
  return [report(v, what)];
}
