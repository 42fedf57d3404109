import { gunzipSync } from 'node:zlib';
import { parseKconfig } from '../parsers/kconfig.js';
import type { Target } from '../targets/target.js';

/** The running kernel's config: /proc/config.gz (CONFIG_IKCONFIG_PROC), else /boot/config-RELEASE or /usr/lib/modules/RELEASE/config. */
/** `options`: read only these (an option not set reads as absent, as in the whole file). */
export async function readKconfig(target: Target, release: string, options?: string[]): Promise<{ source: string; cfg: Map<string, string> } | null> {
  const gz = await target.readFileBuffer('/proc/config.gz');
  if (gz && gz.length > 0) {
    try {
      return { source: '/proc/config.gz', cfg: parseKconfig(gunzipSync(gz).toString('utf8')) };
    } catch {
      /* fall through */
    }
  }
  // Debian up to 6.12 installs /boot/config-RELEASE; Debian's 7.x kernels (merged /usr) only
  // /usr/lib/modules/RELEASE/config.
  for (const path of [`/boot/config-${release}`, `/usr/lib/modules/${release}/config`]) {
    if (options) {
      // Only the options asked for: the file is ~250 KB, a second over the micro-VM's agent (TCG).
      // grep: 0 found, 1 none of them set (answers); 2 (no such file), a timeout: not this file.
      const r = await target.exec(['grep', '-E', `^(${options.filter((o) => /^CONFIG_[A-Z0-9_]+$/.test(o)).join('|')})=`, path], { timeoutMs: 30_000 });
      if (!r.timedOut && (r.exitCode === 0 || r.exitCode === 1)) return { source: path, cfg: parseKconfig(r.stdout) };
      continue;
    }
    const text = await target.readFile(path);
    if (text) return { source: path, cfg: parseKconfig(text) };
  }
  return null;
}
