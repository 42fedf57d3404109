/**
 * nfscope vm kernels (issue 12): every alias resolves through nfscope's own apt
 * state, fetched afresh here (--refresh), and the system's apt sources, lists,
 * cache and dpkg status stay byte-identical (scripts/apt-fingerprint.sh).
 * Needs Debian's archive (the network the project allows); skipped without apt.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { nfscope, ROOT, sh } from '../helpers/sys.js';
import { expectSchema } from '../helpers/schema.js';

const apt = existsSync('/usr/bin/apt-get') && existsSync('/usr/share/keyrings/debian-archive-keyring.gpg');
if (!apt) console.log('kernels: "nfscope vm kernels" skipped: no apt-get or no debian-archive-keyring here (the resolution runs through apt)');

describe.skipIf(!apt)('nfscope vm kernels', () => {
  it('resolves 5.10, 6.1, 6.12 and latest, and leaves the system\'s apt untouched', async () => {
    const before = await sh([join(ROOT, 'scripts/apt-fingerprint.sh')]);
    const r = await nfscope(['vm', 'kernels', '--refresh', '--json'], { timeoutMs: 600_000 });
    const after = await sh([join(ROOT, 'scripts/apt-fingerprint.sh')]);
    expect(after).toBe(before);
    expect(r.exitCode, r.stderr).toBe(0);
    const rep = JSON.parse(r.stdout);
    expectSchema('vm-kernels', rep);
    const by = Object.fromEntries(rep.aliases.map((a: { alias: string }) => [a.alias, a]));
    expect(Object.keys(by)).toEqual(['5.10', '6.1', '6.12', 'latest']);
    for (const a of rep.aliases) expect(a.error, a.alias).toBeUndefined();
    expect(by['5.10'].package).toMatch(/^linux-image-5\.10\.\d+-\d+-amd64$/);
    expect(by['6.1'].package).toMatch(/^linux-image-6\.1\.\d+-\d+-amd64$/);
    expect(by['6.12'].package).toMatch(/^linux-image-6\.12\.\d+\+deb13-amd64$/);
    expect(by.latest.suite).toBe('sid');
    // Whichever layout sid has that day: one image package, or its binary/modules/base parts.
    expect(by.latest.parts.length === 1 || by.latest.parts.some((p: string) => p.startsWith('linux-binary-'))).toBe(true);
    for (const s of ['bullseye', 'bookworm', 'trixie', 'sid']) expect(Date.now() - Date.parse(rep.lists[s])).toBeLessThan(600_000);
  }, 600_000);

  it('an unknown alias is refused before anything runs (exit 2)', async () => {
    const r = await nfscope(['vm', 'run', '--kernel', '5.4', '--', 'true']);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/invalid --kernel "5\.4".*5\.10, 6\.1, 6\.12, latest/);
  });
});
