/**
 * Runs once around the whole suite: nfscope's probe cache (lib/boot-cache.ts)
 * goes to a private directory of this run, removed at the end, so that tests
 * leave nothing in /run/nfscope and start from no cache.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export default function setup(): () => void {
  const dir = mkdtempSync(join(tmpdir(), 'nfscope-probe-cache-'));
  process.env.NFSCOPE_PROBE_CACHE = join(dir, 'cache');
  return () => rmSync(dir, { recursive: true, force: true });
}
