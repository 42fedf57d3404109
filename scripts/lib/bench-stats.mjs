// bench-stats.mjs - what every nfscope benchmark reports beside its figure
// (issue 14): the spread (min/median/max) over interleaved rounds, ratios
// taken per round (each traced round against the untraced round next to it),
// and the CPUs the run had (count, model, the affinity it ran with, load).
import { availableParallelism, cpus, loadavg } from 'node:os';
import { readFileSync } from 'node:fs';

export function spread(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return { min: s[0], median: s[Math.floor(s.length / 2)], max: s[s.length - 1], n: s.length };
}

/** Per-round ratios a[i] / b[i], then their spread. */
export function ratioSpread(a, b, digits = 3) {
  const r = a.map((x, i) => x / b[i]);
  const s = spread(r);
  const f = (v) => +v.toFixed(digits);
  return { min: f(s.min), median: f(s.median), max: f(s.max), n: s.n };
}

export const fmtSpread = (s, d = 2) => `${s.median.toFixed(d)} (min ${s.min.toFixed(d)}, max ${s.max.toFixed(d)}, ${s.n} rounds)`;

/** The CPUs this process may run on, as the kernel says (Cpus_allowed_list), and the machine's. */
export function cpuInfo() {
  const status = readFileSync('/proc/self/status', 'utf8');
  return {
    online: availableParallelism(),
    model: cpus()[0]?.model ?? 'unknown',
    affinity: /^Cpus_allowed_list:\s*(\S+)/m.exec(status)?.[1] ?? 'unknown',
    loadavg: loadavg().map((x) => +x.toFixed(2)),
  };
}
