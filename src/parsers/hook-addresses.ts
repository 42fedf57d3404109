/**
 * The hook listing server prints callbacks as addresses (see
 * programs/nf_hooks_server.ts for why). These name them from /proc/kallsyms
 * lines read after the listing. An address no symbol starts at stays as
 * "0x…": a nearest-preceding-symbol guess is how a reloaded module gets
 * misnamed, and a wrong name is worse than none.
 */

const ADDR = /^0x([0-9a-f]{1,16})$/;

/** Which field holds the callback, per record kind (see bpf/nf_hooks.bt). */
const FIELD: Record<string, number> = { E: 2, n: 3, D: 4 };

const norm = (hex: string) => hex.replace(/^0+(?=.)/, '');

/** The addresses the listing names (hex, no 0x, no leading zeros). */
export function hookAddresses(lines: string[]): string[] {
  const out = new Set<string>();
  for (const l of lines) {
    const f = l.split(' ');
    const i = FIELD[f[0]!];
    const m = i === undefined ? null : ADDR.exec(f[i] ?? '');
    if (m) out.add(norm(m[1]!));
  }
  return [...out];
}

/** /proc/kallsyms lines "ADDR t NAME\t[module]" → address → name (text symbols only). */
export function kallsymsTable(text: string): Map<string, string> {
  const t = new Map<string, string>();
  for (const line of text.split('\n')) {
    const [addr, type, name] = line.split(/\s+/);
    if (!addr || !name || !/^[0-9a-f]+$/.test(addr) || !/^[tTwW]$/.test(type ?? '') || /^0+$/.test(addr)) continue;
    if (!t.has(norm(addr))) t.set(norm(addr), name);
  }
  return t;
}

/** The listing with each callback address replaced by its symbol, where one starts there. */
export function nameHookAddresses(lines: string[], table: Map<string, string>): { lines: string[]; unnamed: string[] } {
  const unnamed = new Set<string>();
  const out = lines.map((l) => {
    const f = l.split(' ');
    const i = FIELD[f[0]!];
    const m = i === undefined ? null : ADDR.exec(f[i] ?? '');
    if (!m) return l;
    const name = table.get(norm(m[1]!));
    if (!name) {
      unnamed.add(`0x${norm(m[1]!)}`);
      return l;
    }
    f[i!] = name;
    return f.join(' ');
  });
  return { lines: out, unnamed: [...unnamed] };
}

/**
 * A text symbol's length from `grep -A1 ' NAME$' /proc/kallsyms`: the distance to the symbol
 * kallsyms lists after it (vmlinux's are in address order; 6.18 puts the next function's
 * `__pfx_` padding there, which ends it as well). null when the two lines are not there, or the
 * addresses are hidden (kptr_restrict: all zeros).
 */
export function symbolLength(grepOut: string, name: string): number | null {
  const lines = grepOut.split('\n').filter((l) => l.trim() !== '');
  const i = lines.findIndex((l) => { const [, type, n] = l.split(/\s+/); return n === name && /^[tT]$/.test(type ?? ''); });
  const next = lines[i + 1];
  if (i < 0 || !next) return null;
  const a = BigInt(`0x${lines[i]!.split(/\s+/)[0]}`), b = BigInt(`0x${next.split(/\s+/)[0]}`);
  if (a === 0n || b <= a || b - a > 0x100000n) return null;
  return Number(b - a);
}
