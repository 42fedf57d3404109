/** First dotted version number in a tool's --version text ("bpftrace v0.17.0" → "0.17.0"). */
export function parseVersion(text: string): string | null {
  const m = text.match(/\bv?(\d+\.\d+(?:\.\d+)?)/);
  return m ? m[1]! : null;
}

/** Numeric comparison of dotted versions: -1, 0, 1. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return 0;
}

/** /proc/mounts → the mount point of the first filesystem of that type, or null. */
export function findMount(procMounts: string, fstype: string): string | null {
  for (const line of procMounts.split('\n')) {
    const f = line.split(' ');
    if (f[2] === fstype && f[1]) return f[1].replace(/\\040/g, ' ');
  }
  return null;
}
