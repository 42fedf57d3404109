/** What a target can do, as kernel/capabilities.ts probes it: `nfscope doctor` reports it, sessions check it. */

/** One thing the target can or cannot do, and what follows from it. */
export interface Capability {
  id: string;
  /** null: could not be told (the probe that says it failed); `detail` then says why. */
  available: boolean | null;
  detail: string;
  /** What nfscope cannot do without it. */
  disables?: string;
  /** How to get it. */
  fix?: string;
}

export interface ToolInfo {
  name: string;
  path: string | null;
  version: string | null;
}

export interface Capabilities {
  kernel: string;
  root: boolean;
  kconfigSource: string | null;
  tracefs: string | null;
  caps: Capability[];
  tools: ToolInfo[];
  /**
   * Environment assignments bpftrace needs on this target. bpftrace 0.17 on
   * Debian's 5.10 (vmlinux BTF, no module BTF) says `btf: no` in --info and
   * knows no kernel struct, although /sys/kernel/btf/vmlinux is there; told
   * BPFTRACE_BTF=/sys/kernel/btf/vmlinux it reads it. Found by probing, never
   * by version: [] wherever bpftrace finds BTF by itself.
   */
  bpftraceEnv: string[];
}
