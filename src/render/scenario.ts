/** A scenario's report as a person reads it: text, Markdown, one self-contained HTML file; and `lab --list`. */
import type { ClaimStatus } from '../model/lab.js';
import type { ScenarioInfo, ScenarioReport, ScenarioSetReport } from '../model/scenario.js';
import { evidenceText } from './evidence.js';
import { esc, htmlPage } from './html-page.js';

const MARK: Record<ClaimStatus, string> = { confirmed: '✔ confirmed', refuted: '✘ refuted', 'not-observable': '– not observable here' };
const PHASE = { problem: 'the pitfall', fix: 'the fix' } as const;

export function renderScenarioList(list: readonly ScenarioInfo[]): string {
  const w = Math.max(...list.map((s) => s.id.length));
  return list.map((s) => `${s.id.padEnd(w)}  ${s.summary}`).join('\n');
}

export function renderScenarioText(r: ScenarioReport, o: { explain?: boolean } = {}): string {
  const out: string[] = [`nfscope lab --scenario ${r.scenario}: ${r.title}`, `kernel ${r.kernel}, target ${r.target}, port ${r.port}, ${r.durationS} s`, ''];
  r.claims.forEach((c, i) => {
    out.push(`${i + 1}. [${PHASE[c.phase]}] ${c.claim}`);
    for (const e of c.evidence) {
      out.push(`   Evidence: ${e.title}`);
      out.push(...evidenceText(e).split('\n').map((l) => `     ${l}`));
      out.push(`   → ${e.shows}`);
    }
    out.push(`   ${MARK[c.status]}${c.reason ? `: ${c.reason}` : ''}`);
    if (o.explain) out.push('   Run it by hand:', ...c.commands.map((cmd) => `     $ ${cmd}`));
    out.push('');
  });
  out.push(`Fix: ${r.fix}`);
  out.push(`Reported in: ${r.grounding.join('; ')}`);
  const n = (s: ClaimStatus) => r.claims.filter((c) => c.status === s).length;
  out.push(`${n('confirmed')} confirmed, ${n('refuted')} refuted, ${n('not-observable')} not observable on this target.`);
  return out.join('\n');
}

/** `lab --scenario all`: each scenario's text, then one line of the whole. */
export function renderScenarioSetText(set: ScenarioSetReport, o: { explain?: boolean } = {}): string {
  const all = set.reports.flatMap((r) => r.claims);
  const n = (s: ClaimStatus) => all.filter((c) => c.status === s).length;
  const failed = set.failed.map((f) => `${f.scenario} FAILED (exit ${f.exitCode}): ${f.error}`);
  return [
    ...set.reports.map((r) => renderScenarioText(r, o)),
    ...failed,
    `${set.reports.length} scenarios: ${n('confirmed')} claims confirmed, ${n('refuted')} refuted, ${n('not-observable')} not observable on this target.` +
      (set.failed.length ? ` ${set.failed.length} failed: ${set.failed.map((f) => f.scenario).join(', ')}.` : ''),
  ].join('\n\n');
}

export function renderScenarioMarkdown(r: ScenarioReport): string {
  const out: string[] = [
    `# nfscope lab --scenario ${r.scenario}: ${r.title}`, '',
    `Kernel \`${r.kernel}\`, target \`${r.target}\`, port ${r.port}, ${r.durationS} s. Reported in: ${r.grounding.join('; ')}.`, '',
    '| # | phase | claim | status |', '|---|---|---|---|',
    ...r.claims.map((c, i) => `| ${i + 1} | ${PHASE[c.phase]} | ${c.claim.replace(/\|/g, '\\|')} | **${c.status}** |`), '',
  ];
  r.claims.forEach((c, i) => {
    out.push(`## ${i + 1}. ${c.id}`, '', `**Claim (${PHASE[c.phase]}).** ${c.claim}`, '', `**Status: ${c.status}.**${c.reason ? ` ${c.reason}` : ''}`, '');
    for (const e of c.evidence) out.push(`**Evidence: ${e.title}.** ${e.shows}.`, '', '```', evidenceText(e), '```', '');
    out.push('Run it by hand:', '', '```sh', ...c.commands, '```', '');
  });
  out.push(`**Fix.** ${r.fix}`, '');
  return out.join('\n');
}


/** One self-contained HTML file: inline CSS, no script, no external resource. */
export function renderScenarioHtml(r: ScenarioReport): string {
  const badge = (s: ClaimStatus) => `<span class="badge ${s}">${s}</span>`;
  const body: string[] = [
    `<h1>nfscope lab --scenario ${esc(r.scenario)}: ${esc(r.title)}</h1>`,
    `<p>Kernel <code>${esc(r.kernel)}</code>, target <code>${esc(r.target)}</code>, port ${r.port}, ${r.durationS} s. Reported in: ${esc(r.grounding.join('; '))}.</p>`,
    '<table class="summary"><tr><th>#</th><th>phase</th><th>claim</th><th>status</th></tr>',
    ...r.claims.map((c, i) => `<tr><td>${i + 1}</td><td>${PHASE[c.phase]}</td><td><a href="#c${i + 1}">${esc(c.claim)}</a></td><td>${badge(c.status)}</td></tr>`),
    '</table>',
  ];
  r.claims.forEach((c, i) => {
    body.push(`<section id="c${i + 1}"><h2>${i + 1}. ${esc(c.id)} ${badge(c.status)}</h2>`, `<p class="claim"><b>Claim (${PHASE[c.phase]}).</b> ${esc(c.claim)}</p>`);
    if (c.reason) body.push(`<p class="reason"><b>${c.status === 'not-observable' ? 'Not observable here' : 'Note'}:</b> ${esc(c.reason)}</p>`);
    for (const e of c.evidence) body.push(`<h3>${esc(e.title)}</h3><p>${esc(e.shows)}.</p><pre>${esc(evidenceText(e))}</pre>`);
    body.push(`<details><summary>Run it by hand</summary><pre>${c.commands.map((x) => `$ ${esc(x)}`).join('\n')}</pre></details></section>`);
  });
  body.push(`<h2>The fix</h2><p>${esc(r.fix)}</p>`);
  return htmlPage(`nfscope lab --scenario ${r.scenario}: ${r.kernel}`, body);
}
