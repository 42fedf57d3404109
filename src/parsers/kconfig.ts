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
