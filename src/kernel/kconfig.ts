import { gunzipSync } from 'node:zlib';
import { parseKconfig } from '../parsers/kconfig.js';
import type { Target } from '../targets/target.js';

/** The running kernel's config: /proc/config.gz (CONFIG_IKCONFIG_PROC), else /boot/config-RELEASE. */
export async function readKconfig(target: Target, release: string): Promise<{ source: string; cfg: Map<string, string> } | null> {
  const gz = await target.readFileBuffer('/proc/config.gz');
  if (gz && gz.length > 0) {
    try {
      return { source: '/proc/config.gz', cfg: parseKconfig(gunzipSync(gz).toString('utf8')) };
    } catch {
      /* fall through */
    }
  }
  const path = `/boot/config-${release}`;
  const text = await target.readFile(path);
  return text ? { source: path, cfg: parseKconfig(text) } : null;
}
