/**
 * Which qemu boots the micro-VM (vm/emulator.ts), for real on this host: where the system's qemu
 * runs TCG vCPUs in turns (before 8.2.6 / 9.1) on Debian 12, bookworm-backports' qemu is fetched
 * into nfscope's cache through its own apt state (the system's apt untouched), runs here, and is
 * patching-safe by its own --version; a cached copy that another user could have written is
 * never run; NFSCOPE_QEMU=system keeps the system's. Each case has a cache of its own (NFSCOPE_CACHE).
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { ROOT, sh } from '../helpers/sys.js';
import { parseVersion } from '../../src/parsers/versions.js';
import { tcgPatchingSafe } from '../../src/vm/qemu-argv.js';

const systemQemu = ['/usr/bin/qemu-system-x86_64'].find((p) => existsSync(p));
const systemVersion = systemQemu ? parseVersion(execFileSync(systemQemu, ['--version'], { encoding: 'utf8' })) : null;
const bookworm = /^VERSION_CODENAME=bookworm$/m.test(readFileSync('/etc/os-release', 'utf8'));
const apt = existsSync('/usr/bin/apt-get') && existsSync('/usr/share/keyrings/debian-archive-keyring.gpg');
const why = !systemQemu ? 'no /usr/bin/qemu-system-x86_64'
  : !bookworm ? 'the host is not Debian 12 (bookworm-backports\' qemu is built for it only)'
  : !apt ? 'no apt-get or no debian-archive-keyring'
  : systemVersion && tcgPatchingSafe(systemVersion) ? `the system's qemu ${systemVersion} is patching-safe: nothing is fetched`
  : process.getuid?.() !== 0 ? 'not root (nfscope\'s cache is root\'s)'
  : null;
if (why) console.log(`emulator: skipped: ${why}`);

const caches: string[] = [];
function cache(): string {
  const d = mkdtempSync(join(tmpdir(), 'nfscope-test-emulator-'));
  caches.push(d);
  // apt fetches as its own user (_apt): the cache must let it in, as /var/cache/nfscope does.
  chmodSync(d, 0o755);
  return d;
}
afterAll(() => {
  for (const d of caches) rmSync(d, { recursive: true, force: true });
});

/** A fresh module instance (its per-process memo empty) under this environment. */
async function choose(env: Record<string, string | undefined>): Promise<{ emulator: import('../../src/vm/emulator.js').Emulator; said: string[] }> {
  for (const [k, v] of Object.entries(env)) vi.stubEnv(k, v);
  vi.resetModules();
  const { chooseEmulator } = await import('../../src/vm/emulator.js');
  const { LocalTarget } = await import('../../src/targets/local.js');
  const said: string[] = [];
  try {
    return { emulator: await chooseEmulator(new LocalTarget(), 'tcg', (m) => said.push(m)), said };
  } finally {
    vi.unstubAllEnvs();
  }
}

describe.skipIf(why !== null)('the micro-VM\'s qemu', () => {
  it('fetches bookworm-backports\' qemu once, runs it, and leaves the system\'s apt as it was', async () => {
    const before = await sh([join(ROOT, 'scripts/apt-fingerprint.sh')]);
    const c = cache();
    const first = await choose({ NFSCOPE_CACHE: c, NFSCOPE_QEMU: undefined });
    expect(await sh([join(ROOT, 'scripts/apt-fingerprint.sh')])).toBe(before);
    const e = first.emulator;
    expect(first.said.filter((m) => m.startsWith('fetching qemu ')), first.said.join('\n')).toHaveLength(1);
    expect(e.bin.startsWith(join(c, 'qemu') + '/')).toBe(true);
    expect(e.origin).toMatch(/^bookworm-backports' \S+~bpo12\S* \(/);
    // The version is the binary's own answer, run here: its libraries are this host's.
    const own = parseVersion(execFileSync(e.bin, ['--version'], { encoding: 'utf8' }));
    expect(own).toBe(e.version);
    expect(tcgPatchingSafe(own!)).toBe(true);
    expect(e.patchingSafe).toBe(true);
    expect(existsSync(join(e.datadir!, 'qboot.rom'))).toBe(true);

    // Again, as another nfscope would: from the cache, nothing fetched.
    const again = await choose({ NFSCOPE_CACHE: c, NFSCOPE_QEMU: undefined });
    expect(again.emulator).toEqual(e);
    expect(again.said.filter((m) => m.startsWith('fetching qemu '))).toEqual([]);

    // The build's directory is private (mkdtemp's 0700): nothing in it can be changed by another
    // user. One opened to others is never run: said, and the system's is used.
    const dir = join(c, 'qemu', readdirSync(join(c, 'qemu')).find((n) => !n.startsWith('.'))!);
    expect(e.bin.startsWith(`${dir}/`)).toBe(true);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    chmodSync(dir, 0o755);
    const tampered = await choose({ NFSCOPE_CACHE: c, NFSCOPE_QEMU: undefined });
    expect(tampered.emulator.bin).toBe(systemQemu);
    expect(tampered.emulator.patchingSafe).toBe(false);
    expect(tampered.emulator.warning).toContain(`${dir} is open to other users (mode 755)`);
    // Carried in the choice (vm/boot.ts says it at each boot), not printed once by the chooser.
    expect(tampered.said).toEqual([]);
  }, 600_000);

  it('NFSCOPE_QEMU=system keeps the system\'s qemu, and asks apt nothing; any other value is a usage error', async () => {
    const c = cache();
    const r = await choose({ NFSCOPE_CACHE: c, NFSCOPE_QEMU: 'system' });
    expect(r.emulator).toEqual({ bin: systemQemu, version: systemVersion, patchingSafe: false, origin: "the system's" });
    expect(r.said).toEqual([]);
    expect(existsSync(join(c, 'apt'))).toBe(false);
    await expect(choose({ NFSCOPE_CACHE: c, NFSCOPE_QEMU: '/usr/bin/qemu' })).rejects.toThrow(/NFSCOPE_QEMU=\/usr\/bin\/qemu: it takes 'system'/);
  });
});
