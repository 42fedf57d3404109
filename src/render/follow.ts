/** follow's text: a compact block per packet, and the summary. Colour only carries verdicts. */
import type { FollowPacket, FollowSummary } from '../model/follow.js';

const C = { red: '\x1b[1;31m', green: '\x1b[32m', yellow: '\x1b[33m', dim: '\x1b[2m', off: '\x1b[0m' };

/**
 * Control characters (C0, DEL, C1) as \xNN: an interface name, a rule's text or comment, a chain
 * name, a tool's stderr all come from the machine, and an escape sequence among them would reach
 * the terminal and act there (issue 26: a rule comment could clear the screen or retitle it).
 * A backslash is doubled, so the escaped text reads back one way only.
 */
export function escapeControls(s: string): string {
  // eslint-disable-next-line no-control-regex
  return /[\x00-\x1f\x7f-\x9f\\]/.test(s) ? s.replace(/[\x00-\x1f\x7f-\x9f\\]/g, (c) => (c === '\\' ? '\\\\' : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`)) : s;
}

/** The report with every string in it escaped: what it prints cannot carry a control character of the machine's. */
function escaped<T>(v: T): T {
  if (typeof v === 'string') return escapeControls(v) as T;
  if (Array.isArray(v)) return v.map(escaped) as T;
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, escaped(x)])) as T;
  return v;
}

function paint(color: boolean, verdict: string): string {
  const v = verdict.toUpperCase();
  if (!color) return v;
  const c = /^DROP/.test(v) ? C.red : /^ACCEPT/.test(v) ? C.green : /^(QUEUE|STOLEN|REPEAT)/.test(v) ? C.yellow : C.dim;
  return `${c}${v}${C.off}`;
}

export function renderPacket(raw: FollowPacket, color = false): string {
  const p = escaped(raw);
  const t = p.tuple;
  const flags = t.tcpFlags?.length ? ` [${t.tcpFlags.join(',')}]` : '';
  const lines = [`#${p.id} +${p.t.toFixed(3)}s ${p.flow}${flags}${p.iif ? ` iif ${p.iif}` : ''}`];
  if (p.counted) lines.push(`    counted: ${p.counted.note}`);
  for (const h of p.hooks ?? []) {
    lines.push(`    ${h.family} ${h.hook}${h.counted ? ` (counted: as ${p.counted?.asPacket !== null && p.counted?.asPacket !== undefined ? `packet #${p.counted.asPacket}` : 'a pass printed before'})` : ''}`);
    for (const c of h.callbacks) {
      const v = /^[A-Z]+$/.test(c.verdict) ? paint(color, c.verdict) : color ? `${C.dim}${c.verdict}${C.off}` : c.verdict;
      lines.push(`      ${String(c.priority ?? '?').padStart(11)} ${c.conntrack ? '*' : ' '} ${c.callback.padEnd(28)} ${v}`);
    }
  }
  if (p.conntrack) lines.push(`    conntrack: ${p.conntrack.ctinfo}${p.conntrack.status.length ? ` [${p.conntrack.status.join(',')}]` : ''} (after ${p.conntrack.after})`);
  if (p.entry) lines.push(`    entry: ${p.entry.kind} (${p.entry.evidence})`);
  for (const n of p.nat) lines.push(`    nat at ${n.hook} (${n.callback}): ${n.before.src}:${n.before.sport} > ${n.before.dst}:${n.before.dport} → ${n.after.src}:${n.after.sport} > ${n.after.dst}:${n.after.dport}`);
  for (const s of p.nft?.steps ?? []) {
    const what = s.kind === 'policy' ? 'policy' : `${s.rule ?? '(rule text unknown to nft)'}${s.handle !== null ? ` # handle ${s.handle}` : ''}`;
    lines.push(`    ${(s.hook ?? '?').padEnd(12)} ${`${s.family} ${s.table} ${s.chain}`.padEnd(28)} ${what}  ${paint(color, s.verdict)}`);
  }
  if (p.drop) {
    lines.push(`    drop: ${p.drop.reason ?? (p.drop.reasonCode === null ? 'no reason (kernel before 5.17)' : `reason ${p.drop.reasonCode}`)} at ${p.drop.location}${p.drop.hook ? ` (${p.drop.hook})` : ''}`);
  }
  const f = p.fate;
  const fate = f.kind === 'dropped'
    ? `${paint(color, 'dropped')}${f.hook ? ` at ${f.hook}` : ''}${f.by ? ` by ${f.by}` : ''}${f.reason ? ` (${f.reason})` : ''}`
    : f.kind === 'accepted' ? `${paint(color, 'accepted')}: ${f.detail}`
      : f.kind === 'stolen' || f.kind === 'queued' ? `${paint(color, f.kind === 'stolen' ? 'stolen' : 'queue')}${f.hook ? ` at ${f.hook}` : ''} by ${f.by}`
        : `unknown: ${f.detail}`;
  lines.push(`    fate: ${fate}`);
  const so = p.socket;
  if (so) {
    lines.push(so.found
      ? `    socket: ${so.processes.length ? so.processes.map((x) => `${x.comm} (pid ${x.pid})`).join(', ') : 'no process holds it'}: ${so.sockets.join('; ')} (ss at +${so.atS.toFixed(3)}s)${so.note ? `; ${so.note}` : ''}`
      : `    socket: not seen: ${so.why}`);
  }
  return lines.join('\n');
}

export function renderFollowSummary(raw: FollowSummary, color = false): string {
  const s = escaped(raw);
  const f = s.filter;
  const filter = [f.proto, f.port !== null ? `port ${f.port}` : null, f.host ? `host ${f.host}` : null, f.iface ? `iface ${f.iface}` : null].filter(Boolean).join(' ') || 'every packet';
  const taken = s.paths?.mode === 'paths' && s.paths.list.length && s.paths.list.every((e) => e.packets !== null) ? s.paths.list.reduce((n, e) => n + e.packets!, 0) : null;
  const out = [`nfscope follow: kernel ${s.kernel}, target ${s.target}, netns ${f.netns}, ${filter}: ${s.packets} packet(s) printed${taken !== null ? ` (${taken} took the paths below)` : ''} in ${s.durationS.toFixed(1)} s`];
  out.push('sources:');
  for (const src of s.sources) {
    out.push(`    ${src.available ? '✔' : '✘'} ${src.name.padEnd(17)} ${src.detail}`);
    if (src.ended) out.push(`        ${color ? C.red : ''}ended${color ? C.off : ''} at +${src.ended.atS.toFixed(1)} s: ${src.ended.reason}; ${src.ended.then}`);
  }
  out.push(`lost: ${s.lost.kfreeSkb} kfree_skb and ${s.lost.callbacks} callback event(s) lost by bpftrace, ${s.lost.nftrace ?? 'an unknown number of'} traced packet(s) whose nf_tables trace never arrived, ${s.lost.dropsNotDetailed ?? 'an unknown number of'} drop(s) counted past the first 64 detailed`);
  if (s.flows.length) out.push(s.paths?.mode === 'paths' ? 'flows (the packets printed):' : 'flows:');
  for (const fl of s.flows) {
    out.push(`    ${fl.flow}: ${fl.packets} packet(s)`);
    for (const [fate, n] of Object.entries(fl.fates)) out.push(`        ${n} × ${/^dropped/.test(fate) ? paint(color, 'dropped') + fate.slice('dropped'.length) : fate}`);
    if (fl.conntrack.length) out.push(`        conntrack: ${fl.conntrack.map((e) => `${e.event}${e.state ? ` ${e.state}` : ''}${e.flags.length ? ` [${e.flags.join(',')}]` : ''}`).join(' → ')}${fl.conntrackNotKept ? ` (${fl.conntrackNotKept} event(s) between the first and the last ones not kept)` : ''}`);
  }
  const ps = s.paths;
  if (ps) {
    out.push(`paths: ${ps.mode === 'paths' ? `kept in the kernel (${ps.why}); ${ps.countedPasses ?? 'an unknown number of'} hook pass(es) counted, not printed` : ps.why}`);
    for (const e of ps.list) {
      const hooks = e.hooks.map((x) => (/ DROP /.test(x) ? x.replace('DROP', paint(color, 'DROP')) : x)).join(' → ');
      out.push(`    ${String(e.packets ?? '?').padStart(7)} × ${e.flow}: ${hooks}${e.firstPacket !== null ? ` (first: #${e.firstPacket})` : ''}`);
    }
    if (ps.countsUnknown) out.push(`    packets per path not known: ${ps.countsUnknown}`);
    if (ps.notKept) out.push(`    ${ps.notKept} printed pass(es) past the paths kept: their paths are not listed`);
  }
  const nk = s.notKept;
  if (nk && (nk.flows || nk.packets || nk.conntrackEvents)) out.push(`not kept: ${nk.flows} flow(s) past the first ${s.flows.length} (${nk.packets} packet(s), ${nk.conntrackEvents} conntrack event(s) counted only)`);
  if (nk?.notPrinted) out.push(`not printed: ${nk.notPrinted} packet(s), while the reader of this output had 16 MiB of it unread (counted above)`);
  for (const m of s.malformed ?? []) {
    out.push(`malformed: ${m.count} line(s) of ${m.source} no parser took (skipped)${m.examples.length ? ', e.g.:' : ''}`);
    for (const e of m.examples) out.push(`    ${e}`);
  }
  if (s.unavailable.length) {
    out.push('not observable here:');
    for (const u of s.unavailable) out.push(`    ${u.observation}: ${u.reason}`);
  }
  return out.join('\n');
}
