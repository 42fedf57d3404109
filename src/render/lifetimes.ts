import type { Bucket, LifetimesReport } from '../model/lifetimes.js';

const fmtUs = (us: number) => (us >= 1_000_000 ? `${us / 1_000_000}s` : us >= 1000 ? `${us / 1000}ms` : `${us}us`);

/** bpftrace's power-of-two buckets as ASCII bars, [min, max) per line. */
export function renderHistogram(buckets: Bucket[], width = 40): string[] {
  if (buckets.length === 0) return ['    (none)'];
  const top = Math.max(...buckets.map((b) => b.count));
  return buckets.map((b) => {
    const range = `[${fmtUs(b.min)}, ${b.max === null ? '…' : fmtUs(b.max)})`;
    const bar = '@'.repeat(top ? Math.round((b.count / top) * width) : 0);
    return `    ${range.padEnd(18)} ${String(b.count).padStart(7)} |${bar.padEnd(width)}|`;
  });
}

export function renderLifetimes(r: LifetimesReport): string {
  const c = r.counts;
  const o: string[] = [];
  const what = r.filter.port === null ? 'every conntrack entry' : `conntrack entries to TCP port ${r.filter.port}`;
  o.push(`nfscope lifetimes: ${what}${r.filter.netns ? ` in netns ${r.filter.netns}` : ''}, ${r.durationS} s on ${r.kernel} (${r.target})`);
  o.push('');
  o.push(`  allocated          ${c.allocated}`);
  o.push(`  confirmed          ${c.confirmed}`);
  o.push(`  freed unconfirmed  ${c.freedUnconfirmed}   (never in the table: only tracing sees them since 5.19)`);
  o.push(`  freed confirmed    ${c.freedConfirmed}`);
  o.push(`  alive at the end   ${c.aliveAtEnd} (${c.aliveConfirmed} confirmed, ${c.aliveUnconfirmed} unconfirmed)` +
    (r.aliveAgeUs ? `, ages ${fmtUs(r.aliveAgeUs.min)} to ${fmtUs(r.aliveAgeUs.max)}` : ''));
  const sum = c.freedUnconfirmed + c.freedConfirmed + c.aliveAtEnd;
  o.push(`  accounted          ${sum} of ${c.allocated}${r.lost.untracked ? ` (${r.lost.untracked} untracked: map full)` : ''}`);
  if (r.lost.events) o.push(`  LOST: bpftrace dropped ${r.lost.events} event(s)`);
  o.push('');
  o.push('  lifetime of entries freed unconfirmed:');
  o.push(...renderHistogram(r.lifetimesUs.unconfirmed));
  o.push('  lifetime of entries freed confirmed:');
  o.push(...renderHistogram(r.lifetimesUs.confirmed));
  if (r.deaths.byReason.length) {
    o.push('');
    o.push('  why entries died unconfirmed (kfree_skb reason of their skb):');
    for (const d of r.deaths.byReason) o.push(`    ${String(d.count).padStart(7)}  ${d.reason}${d.code !== null ? ` (${d.code})` : ''}`);
  }
  if (r.deaths.byHook.length) {
    o.push(`  where their skb was dropped (from the drop's kernel stack${r.deaths.stacksOfFirst ? `, first ${r.deaths.stacksOfFirst} deaths` : ''}):`);
    for (const d of r.deaths.byHook) o.push(`    ${String(d.count).padStart(7)}  ${d.hook ?? 'no netfilter hook in the stack'}${d.callback ? ` via ${d.callback}` : ''}`);
  }
  for (const [i, s] of r.deaths.stacks.entries()) {
    o.push(`  free stack #${i + 1} (${s.count}):`);
    o.push(...s.frames.slice(0, 12).map((f) => `      ${f}`), ...(s.frames.length > 12 ? [`      … ${s.frames.length - 12} more`] : []));
  }
  for (const u of r.unavailable) o.push(`not observed: ${u.observation}: ${u.reason}`);
  return o.join('\n');
}
