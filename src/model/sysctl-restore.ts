/**
 * Which net.netfilter sysctls to write back after nf_conntrack was reloaded (issue 26): a reload
 * puts every nf_conntrack_* value the user tuned (nf_conntrack_max, the timeouts) back to the
 * module's defaults. Pure: values as read from /proc/sys, compared without surrounding whitespace
 * (the kernel ends each with a newline; multi-value files separate with tabs).
 */
export interface SysctlPlan {
  /** Files whose value differs now: write `value` back. */
  restore: { path: string; value: string }[];
  /** Files that were there before and are not now (their module not loaded again): cannot be restored. */
  gone: string[];
}

const norm = (v: string) => v.trim().split(/\s+/).join(' ');

export function sysctlsToRestore(before: ReadonlyMap<string, string>, now: ReadonlyMap<string, string>): SysctlPlan {
  const restore: SysctlPlan['restore'] = [];
  const gone: string[] = [];
  for (const [path, value] of before) {
    const cur = now.get(path);
    if (cur === undefined) gone.push(path);
    else if (norm(cur) !== norm(value)) restore.push({ path, value: value.trim() + '\n' });
  }
  return { restore, gone };
}

/** The sysctl files nfscope saves and writes back: under /proc/sys/net/netfilter, plain names. */
export const NETFILTER_SYSCTL = /^\/proc\/sys\/net\/netfilter\/[a-z0-9_]+(\/[a-z0-9_]+)?$/;
