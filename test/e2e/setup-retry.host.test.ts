/**
 * scripts/lib/pkg-install.sh (setup.sh's install step) on stale package lists:
 * a private apt configuration with no lists at all fails the first install,
 * then the script says so, refreshes the lists and succeeds. Download only:
 * nothing is installed, and the system's own apt state is never touched.
 * Needs apt-get and Debian's archive (the network this project may reach).
 */
import { execa } from 'execa';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/sys.js';

const d = mkdtempSync(join(tmpdir(), 'nfscope-apt-'));
afterAll(() => rmSync(d, { recursive: true, force: true }));

const systemLists = () => readdirSync('/var/lib/apt/lists').map((f) => {
  const st = statSync(join('/var/lib/apt/lists', f));
  return `${f} ${st.size} ${st.mtimeMs}`;
}).sort();

// dnf machines: the dnf branch is the same shape, untested here.
const hasApt = existsSync('/usr/bin/apt-get');
if (!hasApt) console.log('setup-retry: skipped: no /usr/bin/apt-get (the apt branch is what this test drives)');

describe('package-list retry', () => {
  it.skipIf(!hasApt)('missing lists: the install fails, the lists are refreshed, the second try works', async () => {
    for (const sub of ['etc/sources.list.d', 'lists/partial', 'cache/archives/partial']) mkdirSync(join(d, sub), { recursive: true });
    writeFileSync(join(d, 'etc/sources.list'), 'deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm main\n');
    const opts = [
      `-o Dir::Etc::sourcelist=${d}/etc/sources.list`, `-o Dir::Etc::sourceparts=${d}/etc/sources.list.d`,
      `-o Dir::State::Lists=${d}/lists`, `-o Dir::Cache=${d}/cache`, `-o Dir::Cache::archives=${d}/cache/archives`,
      '-o Debug::NoLocking=1', '--download-only',
    ].join(' ');
    const before = systemLists();
    const r = await execa(join(ROOT, 'scripts/lib/pkg-install.sh'), ['hello'], { env: { ...process.env, NFSCOPE_APT_OPTS: opts }, reject: false, timeout: 300_000 });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/Unable to locate package hello/);
    expect(r.stderr).toMatch(/setup: install failed: the package lists may be stale; running apt-get update and trying once more/);
    expect(readdirSync(join(d, 'cache/archives')).some((f) => /^hello_.*\.deb$/.test(f))).toBe(true);
    expect(systemLists()).toEqual(before);
  }, 320_000);
});
