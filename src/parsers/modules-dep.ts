/**
 * modules.dep (written by depmod) → the modules to insmod, dependencies
 * first. A line: "kernel/fs/9p/9p.ko.xz: kernel/net/9p/9pnet.ko.xz kernel/fs/netfs/netfs.ko.xz".
 * A wanted module absent from the file is built in (modules.builtin) or
 * missing: the caller tells which from modules.builtin.
 */
export function parseModulesDep(text: string): Map<string, string[]> {
  const m = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const i = line.indexOf(':');
    if (i <= 0) continue;
    m.set(line.slice(0, i), line.slice(i + 1).trim().split(/\s+/).filter(Boolean));
  }
  return m;
}

/** "kernel/fs/9p/9p.ko.xz" → "9p"; depmod treats '-' and '_' alike. */
export function moduleName(path: string): string {
  return path.replace(/^.*\//, '').replace(/\.ko(\.(xz|zst|gz))?$/, '').replace(/-/g, '_');
}

/** Paths of the wanted modules and their dependencies, each after what it needs. */
export function loadOrder(dep: Map<string, string[]>, wanted: string[]): { order: string[]; notModules: string[] } {
  const byName = new Map<string, string>();
  for (const p of dep.keys()) byName.set(moduleName(p), p);
  const order: string[] = [];
  const seen = new Set<string>();
  const visit = (p: string) => {
    if (seen.has(p)) return;
    seen.add(p);
    for (const d of dep.get(p) ?? []) visit(d);
    order.push(p);
  };
  const notModules: string[] = [];
  for (const w of wanted) {
    const p = byName.get(w.replace(/-/g, '_'));
    if (p) visit(p);
    else notModules.push(w);
  }
  return { order, notModules };
}
