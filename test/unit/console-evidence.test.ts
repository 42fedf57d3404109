/**
 * The console lines that matter, picked out of real guest consoles: Debian's 6.1 and 6.12 made to
 * panic by sysrq 'c' (test/fixtures/vm-console/<kernel>/, captured with meta.json beside each).
 * The expected lines are found in the fixture by plain text search, not by the code under test.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { consoleEvidence, guestSays } from '../../src/vm/console-evidence.js';
import { ROOT } from '../helpers/sys.js';

const DIR = join(ROOT, 'test/fixtures/vm-console');

describe.each(readdirSync(DIR))('the console of a guest that panicked, %s', (kernel) => {
  const text = readFileSync(join(DIR, kernel, 'console.log'), 'utf8');
  // The serial console ends its lines with CRLF, as qemu's chardev file keeps them.
  const lines = text.trimEnd().split(/\r?\n/);
  const panicLine = lines.find((l) => l.includes('Kernel panic - not syncing: sysrq triggered crash'))!;
  it('the fixture is what it says (a panic from sysrq, on this kernel)', () => {
    const meta = JSON.parse(readFileSync(join(DIR, kernel, 'meta.json'), 'utf8'));
    expect(meta.kernel).toBe(kernel);
    expect(panicLine).toBeDefined();
    expect(text).toContain(` ${kernel.split('-')[0]}`);
  });
  it('names the panic as the headline, and shows it with the call trace down to the sysrq write', () => {
    const ev = consoleEvidence(text);
    expect(ev.kinds).toEqual(['panic']);
    expect(ev.headline).toBe(panicLine.trim());
    const from = lines.indexOf(panicLine);
    // The panic line and the lines after it, in order, as the console has them.
    expect(ev.lines.slice(0, 10)).toEqual(lines.slice(from, from + 10));
    expect(ev.lines.some((l) => /sysrq_handle_crash\+/.test(l))).toBe(true);
    expect(ev.lines.some((l) => /write_sysrq_trigger\+/.test(l))).toBe(true);
    // The console's last line (the panic's end) is shown whatever the block's length.
    expect(ev.lines.at(-1)).toBe(lines.at(-1));
    expect(guestSays(ev)).toBe(`the guest kernel panicked: "${panicLine.trim()}"`);
  });
  it('the same console inside a long run: the panic is still found, the quiet lines before it are not shown', () => {
    // Lines before the panic (the console's own first line, repeated): no trouble, so not shown.
    const quiet = Array.from({ length: 500 }, () => lines[0]!.replace('Trigger a crash', 'Show Memory')).join('\n');
    const ev = consoleEvidence(`${quiet}\n${text}`);
    expect(ev.kinds).toEqual(['panic']);
    expect(ev.headline).toBe(panicLine.trim());
    expect(ev.lines.filter((l) => l.includes('Show Memory'))).toEqual([]);
  });
  it('the vm run stderr (captured beside it) carries the account: panic, qemu status, where the console is', () => {
    const err = readFileSync(join(DIR, kernel, 'stderr.txt'), 'utf8');
    expect(err).toContain(`the VM went away: the guest kernel panicked: "${panicLine.trim()}"; qemu exited with status 0`);
    expect(err).toContain(`  | ${panicLine}`);
  });
});

describe('a console with no trouble', () => {
  it('its last lines are the evidence', () => {
    const text = Array.from({ length: 60 }, (_, i) => `line ${i}`).join('\n') + '\n\n';
    const ev = consoleEvidence(text);
    expect(ev).toEqual({ kinds: [], headline: null, lines: Array.from({ length: 25 }, (_, i) => `line ${i + 35}`) });
    expect(guestSays(ev)).toBe('the guest console shows no panic, oops, lockup or stall');
  });
});
