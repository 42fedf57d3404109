import type { HookList } from '../model/hooks.js';
import type { Claim, LabReport } from '../model/lab.js';
import { evidenceText } from './evidence.js';
import { esc, htmlPage } from './html-page.js';

const MARK: Record<Claim['status'], string> = { confirmed: '✔ confirmed', refuted: '✘ refuted', 'not-observable': '– not observable here' };
const TITLE: Record<Claim['id'], string> = {
  'conntrack-registers-lazily': 'Conntrack is only called when needed',
  'where-conntrack-sits': 'Where conntrack sits',
  'conntrack-saw-the-syn': 'Conntrack saw the SYN',
  'entry-created-and-discarded': 'It created an entry and threw it away',
  'priority-trick': 'The trick that proves it',
};

/** The terminal lesson: each step's claim, its evidence, and the verdict on it. */
export function renderLabText(r: LabReport, o: { explain?: boolean } = {}): string {
  const out: string[] = [`nfscope lab: why a SYN dropped by the firewall leaves no conntrack entry`, `kernel ${r.kernel}, target ${r.target}, port ${r.port}`, ''];
  r.claims.forEach((c, i) => {
    out.push(`${i + 1}. ${TITLE[c.id]}`);
    out.push(`   Claim: ${c.claim}`);
    for (const e of c.evidence) {
      out.push(`   Evidence: ${e.title}`);
      out.push(...evidenceText(e).split('\n').map((l) => `     ${l}`));
      out.push(`   → ${e.shows}`);
    }
    out.push(`   ${MARK[c.status]}${c.reason ? `: ${c.reason}` : ''}`);
    if (o.explain) {
      out.push('   Run it by hand:');
      out.push(...c.commands.map((cmd) => `     $ ${cmd}`));
    }
    out.push('');
  });
  const n = (s: Claim['status']) => r.claims.filter((c) => c.status === s).length;
  out.push(`${n('confirmed')} confirmed, ${n('refuted')} refuted, ${n('not-observable')} not observable on this target.`);
  return out.join('\n');
}

export function renderLabMarkdown(r: LabReport): string {
  const out: string[] = [
    '# nfscope lab: why a SYN dropped by the firewall leaves no conntrack entry', '',
    `Kernel \`${r.kernel}\`, target \`${r.target}\`, TCP port ${r.port}.`, '',
    '| # | claim | status |', '|---|---|---|',
    ...r.claims.map((c, i) => `| ${i + 1} | ${TITLE[c.id]} | **${c.status}** |`), '',
  ];
  r.claims.forEach((c, i) => {
    out.push(`## ${i + 1}. ${TITLE[c.id]}`, '', `**Claim.** ${c.claim}`, '', `**Status: ${c.status}.**${c.reason ? ` ${c.reason}` : ''}`, '');
    for (const e of c.evidence) out.push(`**Evidence: ${e.title}.** ${e.shows}.`, '', '```', evidenceText(e), '```', '');
    out.push('Run it by hand:', '', '```sh', ...c.commands, '```', '');
  });
  return out.join('\n');
}


/**
 * The hook pipeline of an incoming packet as SVG: PRE_ROUTING → routing →
 * LOCAL_IN → socket, each hook's entries in invocation order; conntrack's
 * entries in blue, the one that dropped the SYN in red with a cross.
 */
export function pipelineSvg(hooks: HookList[], dropAt: LabReport['pipeline']['dropAt']): string {
  const cols = ['PRE_ROUTING', 'LOCAL_IN'];
  const colW = 300, rowH = 34, top = 60, left = 20, gap = 90;
  const lists = cols.map((h) => hooks.find((x) => x.hook === h && x.family === 'ipv4')?.entries ?? hooks.find((x) => x.hook === h)?.entries ?? []);
  const rows = Math.max(1, ...lists.map((l) => l.length));
  const height = top + rows * rowH + 70;
  const width = left * 2 + cols.length * colW + (cols.length - 1) * gap + 120;
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="netfilter hooks an incoming SYN passes">`);
  parts.push('<defs><marker id="arrow" markerWidth="10" markerHeight="10" refX="9" refY="3" orient="auto"><path d="M0,0 L9,3 L0,6 z" fill="#555"/></marker></defs>');
  cols.forEach((hook, ci) => {
    const x = left + ci * (colW + gap);
    parts.push(`<text x="${x + colW / 2}" y="30" text-anchor="middle" font-weight="bold" font-size="16">${hook}</text>`);
    parts.push(`<rect x="${x - 6}" y="${top - 14}" width="${colW + 12}" height="${rows * rowH + 20}" rx="8" fill="none" stroke="#999" stroke-dasharray="4 3"/>`);
    lists[ci]!.forEach((e, ri) => {
      const y = top + ri * rowH;
      const dropped = dropAt !== null && dropAt.hook === hook && dropAt.callback === e.callback && (dropAt.priority === null || dropAt.priority === e.priority);
      const fill = dropped ? '#fde2e1' : e.conntrack ? '#dbeafe' : '#f4f4f5';
      const stroke = dropped ? '#dc2626' : e.conntrack ? '#2563eb' : '#a1a1aa';
      parts.push(`<g class="${dropped ? 'drop' : e.conntrack ? 'conntrack' : 'hook'}"><rect x="${x}" y="${y}" width="${colW}" height="${rowH - 6}" rx="5" fill="${fill}" stroke="${stroke}" stroke-width="${dropped ? 2.5 : 1.2}"/>`);
      parts.push(`<text x="${x + 8}" y="${y + 19}" font-size="13" font-family="monospace">${esc(String(e.priority).padStart(11))}  ${esc(e.callback)}</text>`);
      if (dropped) parts.push(`<text x="${x + colW - 22}" y="${y + 21}" font-size="20" fill="#dc2626" font-weight="bold">✕</text>`);
      parts.push('</g>');
    });
    if (ci < cols.length - 1) {
      const ax = x + colW + 12;
      parts.push(`<line x1="${ax}" y1="${top + 10}" x2="${ax + gap - 24}" y2="${top + 10}" stroke="#555" stroke-width="2" marker-end="url(#arrow)"/>`);
      parts.push(`<text x="${ax + (gap - 24) / 2}" y="${top}" text-anchor="middle" font-size="11">routing</text>`);
    }
  });
  const sx = left + cols.length * (colW + gap) - gap + 20;
  parts.push(`<line x1="${sx - 8}" y1="${top + 10}" x2="${sx + 40}" y2="${top + 10}" stroke="#555" stroke-width="2" marker-end="url(#arrow)"/><text x="${sx + 50}" y="${top + 15}" font-size="13">socket</text>`);
  const ly = top + rows * rowH + 30;
  parts.push(`<rect x="${left}" y="${ly}" width="14" height="14" fill="#dbeafe" stroke="#2563eb"/><text x="${left + 20}" y="${ly + 12}" font-size="12">conntrack</text>`);
  parts.push(`<rect x="${left + 110}" y="${ly}" width="14" height="14" fill="#fde2e1" stroke="#dc2626"/><text x="${left + 130}" y="${ly + 12}" font-size="12">the SYN died here${dropAt ? ` (${esc(dropAt.callback ?? '?')}, priority ${dropAt.priority ?? '?'})` : ''}</text>`);
  parts.push('</svg>');
  return parts.join('\n');
}

/** One self-contained HTML file: inline CSS, inline SVG, no script, no external resource. */
export function renderLabHtml(r: LabReport): string {
  const badge = (s: Claim['status']) => `<span class="badge ${s}">${s}</span>`;
  const body: string[] = [];
  body.push(`<h1>nfscope lab: why a SYN dropped by the firewall leaves no conntrack entry</h1>`);
  body.push(`<p>Kernel <code>${esc(r.kernel)}</code>, target <code>${esc(r.target)}</code>, TCP port ${r.port}.</p>`);
  body.push('<table class="summary"><tr><th>#</th><th>claim</th><th>status</th></tr>');
  r.claims.forEach((c, i) => body.push(`<tr><td>${i + 1}</td><td><a href="#${c.id}">${esc(TITLE[c.id])}</a></td><td>${badge(c.status)}</td></tr>`));
  body.push('</table>');
  body.push('<h2>The hook pipeline of the server netns</h2>');
  body.push(`<figure>${pipelineSvg(r.pipeline.hooks, r.pipeline.dropAt)}<figcaption>An incoming SYN passes PRE_ROUTING, then LOCAL_IN, entries in invocation order (lower priority first). Conntrack's callbacks are blue; the entry that dropped the SYN, where one was seen, is red: no entry after it at that hook runs for the packet.</figcaption></figure>`);
  r.claims.forEach((c, i) => {
    body.push(`<section id="${c.id}"><h2>${i + 1}. ${esc(TITLE[c.id])} ${badge(c.status)}</h2>`);
    body.push(`<p class="claim"><b>Claim.</b> ${esc(c.claim)}</p>`);
    if (c.reason) body.push(`<p class="reason"><b>${c.status === 'not-observable' ? 'Not observable here' : 'Note'}:</b> ${esc(c.reason)}</p>`);
    for (const e of c.evidence) body.push(`<h3>${esc(e.title)}</h3><p>${esc(e.shows)}.</p><pre>${esc(evidenceText(e))}</pre>`);
    body.push(`<details><summary>Run it by hand</summary><pre>${c.commands.map((x) => `$ ${esc(x)}`).join('\n')}</pre></details></section>`);
  });
  return htmlPage(`nfscope lab: ${r.kernel}`, body);
}
