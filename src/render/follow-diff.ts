/** `nfscope follow --diff` as text: per kind of packet, same, or where the two runs' paths part. */
import type { FollowDiffKind, FollowDiffReport, FollowDiffSide, FollowPathCount } from '../model/follow-diff.js';

const n = (x: number) => `${x} packet${x === 1 ? '' : 's'}`;

const side = (name: string, s: FollowDiffSide) => `${name}: ${s.source} (${n(s.packets)}${s.kernel ? `, kernel ${s.kernel}` : ''}${s.target ? `, target ${s.target}` : ''})`;

function paths(name: string, ps: FollowPathCount[]): string[] {
  return ps.flatMap((p, i) => [`  ${name}${ps.length > 1 ? ` path ${i + 1}` : ''}, ${n(p.count)} (first: packet ${p.firstPacket}):`, ...p.steps.map((s) => `      ${s}`)]);
}

function kind(k: FollowDiffKind): string[] {
  const total = (ps: FollowPathCount[]) => ps.reduce((t, p) => t + p.count, 0);
  if (k.verdict === 'same') return [`${k.kind}: same (a ${n(total(k.a))}, b ${n(total(k.b))}; ${k.a.length} path${k.a.length === 1 ? '' : 's'})`];
  if (k.verdict === 'only in a') return [`${k.kind}: only in a`, ...paths('a', k.a)];
  if (k.verdict === 'only in b') return [`${k.kind}: only in b`, ...paths('b', k.b)];
  const d = k.firstDifference!;
  return [
    `${k.kind}: differs at step ${d.index + 1}${d.after ? ` (after: ${d.after.trim()})` : ''}`,
    `  a: ${d.a?.trim() ?? '(its path ends here)'}`,
    `  b: ${d.b?.trim() ?? '(its path ends here)'}`,
    ...paths('a', k.a),
    ...paths('b', k.b),
  ];
}

export function renderFollowDiff(r: FollowDiffReport): string {
  const head = [side('a', r.a), side('b', r.b)];
  const left = [!r.compared.callbacks && 'callbacks', !r.compared.nftrace && "nf_tables' rules"].filter(Boolean);
  head.push(`compared: ${['drops and fates', r.compared.callbacks && 'callbacks with their verdicts, conntrack\'s view, NAT', r.compared.nftrace && "nf_tables' rules"].filter(Boolean).join('; ')}${left.length ? ` (not: ${left.join(', ')})` : ''}`);
  for (const note of r.notes) head.push(`note: ${note}`);
  if (r.notKept.kinds || r.notKept.packets) head.push(`not kept: ${r.notKept.kinds} kinds of packet, ${n(r.notKept.packets)} (counted only)`);
  const differing = r.kinds.filter((k) => k.verdict !== 'same').length;
  const body = r.kinds.map((k) => kind(k).join('\n'));
  const tail = differing ? `${differing} of ${r.kinds.length} kinds of packet differ` : r.kinds.length ? 'no difference' : 'no packets on either side';
  return [head.join('\n'), ...body, tail].join('\n\n');
}
