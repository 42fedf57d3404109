import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseGrepFiles } from '../../src/parsers/grep-files.js';
import { ROOT } from '../helpers/sys.js';

/**
 * Real `grep -a -H '' -- FILE...` over every writable net.netfilter sysctl and one path that does
 * not exist (scripts/capture/grep-files.sh; meta.json beside: argv, grep's version, kernel, exit).
 */
const BASE = join(ROOT, 'test/fixtures/grep-files');
const CASES = readdirSync(BASE).map((kernel) => {
  const d = join(BASE, kernel, 'netfilter-sysctls');
  const meta = JSON.parse(readFileSync(join(d, 'meta.json'), 'utf8')) as { argv: string[]; exitCode: number };
  return { kernel, meta, stdout: readFileSync(join(d, 'stdout.txt'), 'utf8'), stderr: readFileSync(join(d, 'stderr.txt'), 'utf8') };
});
const GONE = '/proc/sys/net/netfilter/nf_conntrack_nfscope_gone';

describe('one grep for many files (parsers/grep-files.ts)', () => {
  it('has captures from this machine and the micro-VM', () => {
    expect(CASES.map((c) => c.kernel).sort()).toEqual(expect.arrayContaining(['6.1.0-57-amd64']));
    expect(CASES.length).toBeGreaterThanOrEqual(2);
  });
  for (const c of CASES) {
    const paths = c.meta.argv.slice(c.meta.argv.indexOf('--') + 1);
    it(`${c.kernel}: every file a value, the missing one gone, grep's exit 2 said why`, () => {
      const r = parseGrepFiles(paths, { exitCode: c.meta.exitCode, stdout: c.stdout, stderr: c.stderr });
      expect(c.meta.exitCode).toBe(2);
      expect(r.errors).toEqual([]);
      expect(r.empty).toEqual([]);
      expect(r.gone).toEqual([GONE]);
      expect([...r.values.keys()].sort()).toEqual(paths.filter((p) => p !== GONE).sort());
      // The kernel's own defaults (nf_conntrack_proto_tcp.c: 5 days; nf_log: one line a family).
      expect(r.values.get('/proc/sys/net/netfilter/nf_conntrack_tcp_timeout_established')).toBe('432000\n');
      for (const [p, v] of r.values) expect(v, p).toMatch(/^[^\n]+\n$/);
      // nf_log/1 and nf_log/10 are both asked: each keeps its own line.
      expect(r.values.get('/proc/sys/net/netfilter/nf_log/1')).toBeDefined();
      expect(r.values.get('/proc/sys/net/netfilter/nf_log/10')).toBeDefined();
      expect(c.stdout.split('\n').filter((l) => l.startsWith('/proc/sys/net/netfilter/nf_log/1:'))).toHaveLength(1);
    });
    it(`${c.kernel}: what the output cannot account for is an error, never a value`, () => {
      // Fewer paths asked than grep read: the lines of the others are not taken for anyone's.
      const asked = paths.filter((p) => !p.endsWith('nf_conntrack_max') && p !== GONE);
      const r = parseGrepFiles(asked, { exitCode: c.meta.exitCode, stdout: c.stdout, stderr: c.stderr });
      expect(r.errors.some((e) => e.includes('nf_conntrack_max'))).toBe(true);
      // The missing file's message is not about a file asked for: an error, not "gone".
      expect(r.errors.some((e) => e.includes(GONE))).toBe(true);
      expect(r.gone).toEqual([]);
    });
    it(`${c.kernel}: grep's exit status is read with its output`, () => {
      const run = { exitCode: c.meta.exitCode, stdout: c.stdout, stderr: c.stderr };
      // The same output with no status (killed at its deadline), or with one grep never gives.
      expect(parseGrepFiles(paths, { ...run, exitCode: null, timedOut: true }).errors).toEqual(['grep timed out', 'grep exited on a signal']);
      expect(parseGrepFiles(paths, { ...run, exitCode: 3 }).errors).toEqual(['grep exited 3']);
      // Exit 2 is read as "a file could not be read": without the message naming the file, an error.
      expect(parseGrepFiles(paths, { ...run, stderr: '' }).errors).toEqual(['grep exited 2 and said of no file why']);
      // A file asked for that printed nothing is listed as empty, never given a value of its own.
      const extra = '/proc/sys/net/netfilter/nf_conntrack_nfscope_unprinted';
      const r = parseGrepFiles([...paths, extra], run);
      expect(r.empty).toEqual([extra]);
    });
  }
});
