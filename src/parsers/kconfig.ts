/** Kernel .config text → option map ("y", "m", a value; absent or "is not set" → undefined). */
export function parseKconfig(text: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of text.split('\n')) {
    const mm = line.match(/^(CONFIG_[A-Za-z0-9_]+)=(.*)$/);
    if (mm) m.set(mm[1]!, mm[2]!.replace(/^"(.*)"$/, '$1'));
  }
  return m;
}

/** "y" or "m" means the feature exists (as a module it still has to be loadable). */
export function enabled(cfg: Map<string, string> | null, opt: string): boolean | null {
  if (!cfg) return null;
  const v = cfg.get(opt);
  return v === 'y' || v === 'm';
}

/** The options nfConnInNoBtf reads. */
export const NF_CONN_BTF_OPTIONS = ['CONFIG_NF_CONNTRACK', 'CONFIG_DEBUG_INFO_BTF_MODULES'];

/**
 * struct nf_conn is in no BTF: nf_conntrack is a module and the kernel has no
 * module BTF (CONFIG_DEBUG_INFO_BTF_MODULES came in 5.11; Debian's 5.10). Its
 * layout must then come from the kernel's debug info. One rule for the host
 * (vm/boot.ts fetches that debug info) and the target (kernel/bpf-shape.ts reads it).
 */
export function nfConnInNoBtf(cfg: Map<string, string>): boolean {
  return cfg.get('CONFIG_NF_CONNTRACK') === 'm' && cfg.get('CONFIG_DEBUG_INFO_BTF_MODULES') !== 'y';
}
