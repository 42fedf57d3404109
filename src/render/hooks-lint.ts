/** `nfscope hooks --lint` as text: each finding with its entries, rules, why and fix. */
import type { Finding, HooksLintReport } from '../model/hooks-lint.js';

function finding(f: Finding): string {
  const where = `${f.family} ${f.hook}${f.device ? ` on ${f.device}` : ''}`;
  const lines = [`${f.severity} ${f.code}  ${where}`, `  ${f.message}`];
  for (const e of f.entries) lines.push(`  entry: ${String(e.priority).padStart(11)} ${e.callback} (${e.owner}${e.chain ? `: ${e.chain.family} ${e.chain.table} ${e.chain.chain}` : ''})`);
  for (const r of f.rules) {
    lines.push(r.family.endsWith('-legacy')
      ? `  rule: ${r.family}-save line ${r.handle}: ${r.what}`
      : `  rule: ${r.family} ${r.table} ${r.chain} handle ${r.handle} (${r.what})`);
  }
  lines.push(`  why: ${f.why}`, `  fix: ${f.fix}`, `  see: ${f.shownBy}${f.scenario ? `; nfscope lab --scenario ${f.scenario} (the pitfall and its fix, judged)` : ''}`);
  return lines.join('\n');
}

export function renderHooksLint(r: HooksLintReport): string {
  const warnings = r.findings.filter((f) => f.severity === 'warning').length;
  const head = `kernel ${r.kernel}, netns ${r.netns}: ${r.findings.length === 0 ? 'no finding' : `${r.findings.length} finding(s), ${warnings} warning(s)`}`;
  const parts = [head, `rules read with: ${r.sources.length ? r.sources.join('; ') : 'none'}`];
  for (const n of r.notJudged) parts.push(`not judged: ${n}`);
  return [parts.join('\n'), ...r.findings.map(finding)].join('\n\n');
}
