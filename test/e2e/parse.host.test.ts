/**
 * `nfscope parse KIND FILE|-` on real captures (fixtures with meta.json), as a
 * user runs it: exit codes, content, and typed errors for bad input.
 */
import { traceLineFacts } from '../helpers/call-tree-oracle.js';
import { execa } from 'execa';
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI, nfscope, ROOT } from '../helpers/sys.js';
import { expectSchema } from '../helpers/schema.js';

const F = (rel: string) => join(ROOT, 'test/fixtures', rel);
const tmp = mkdtempSync(join(tmpdir(), 'nfscope-parse-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('nfscope parse on real captures', () => {
  it('function-graph (6.1 tracefs): the merged tree shows the allocation path with durations', async () => {
    const trace = F('function_graph/6.1.0-57-amd64/syn-ipv4-iptables/trace.txt');
    const r = await nfscope(['parse', 'function-graph', trace]);
    expect(r.exitCode, r.stderr).toBe(0);
    const { records } = traceLineFacts(readFileSync(trace, 'utf8'));
    expect(r.stdout).toMatch(new RegExp(`^${records} records`));
    const lines = r.stdout.split('\n');
    const at = (fn: string) => lines.findIndex((l) => l.includes(fn));
    const indent = (i: number) => lines[i]!.search(/\S/);
    expect(indent(at('init_conntrack.constprop.0'))).toBeGreaterThan(indent(at(' nf_conntrack_in [')));
    expect(indent(at('__nf_conntrack_alloc'))).toBeGreaterThan(indent(at('init_conntrack.constprop.0')));
    expect(lines[at('__nf_conntrack_alloc')]).toMatch(/\d+\.\d us$/);
  });
  it('function-graph --json from stdin (trace-cmd report layout)', async () => {
    const r = await execa('node', [CLI, 'parse', 'function-graph', '-', '--json'], { input: readFileSync(F('function_graph/6.1.0-56-amd64/trace-cmd-report/trace.txt')), reject: false });
    expect(r.exitCode, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expectSchema('parse-function-graph', j);
    expect(j.stats).toMatchObject({ records: 5118, cpus: [0, 1], unfinished: 1, orphanReturns: 1 });
    expect(JSON.stringify(j.tree)).toContain('"fn":"__nf_conntrack_alloc"');
  });
  it('kstack (bpftrace 0.17 text and json)', async () => {
    for (const f of ['text.out', 'json.out']) {
      const r = await nfscope(['parse', 'kstack', F(`kstack/6.18.44-fc-v657/closed-port/${f}`), '--json']);
      expect(r.exitCode, r.stderr).toBe(0);
      const j = JSON.parse(r.stdout);
      expectSchema('parse-kstack', j);
      expect(j.maps.sort()).toEqual(['@all', '@drops']);
      expect(j.total).toBe(6);
    }
  });
  it('bpftrace-json, conntrack, nft-hooks, hooks', async () => {
    const bj = await nfscope(['parse', 'bpftrace-json', F('ct_syn/6.1.0-56-amd64/ipv4-iptables-count3/stdout.jsonl'), '--json']);
    expect(bj.exitCode, bj.stderr).toBe(0);
    expectSchema('parse-bpftrace-json', JSON.parse(bj.stdout));
    expect(JSON.parse(bj.stdout).printf).toContain('READY');
    for (const f of ['default.txt', 'extended.txt']) {
      const ct = await nfscope(['parse', 'conntrack', F(`conntrack/6.18.44-fc-v657/loopback-flows/${f}`), '--json']);
      expect(ct.exitCode, ct.stderr).toBe(0);
      expectSchema('parse-conntrack', JSON.parse(ct.stdout));
      const flows = JSON.parse(ct.stdout).flows;
      expect(flows.map((x: { proto: string; state: string | null }) => `${x.proto} ${x.state}`)).toEqual(['tcp ESTABLISHED', 'udp null']);
      expect(flows[1].flags).toEqual(['UNREPLIED']);
    }
    const nft = await nfscope(['parse', 'nft-hooks', F('nft/6.12.117+deb12-amd64/conntrack-nft/stdout.txt')]);
    expect(nft.exitCode, nft.stderr).toBe(0);
    expect(nft.stdout).toMatch(/ipv4_conntrack_in/);
    const h = await nfscope(['parse', 'hooks', F('drgn/6.1.0-56-amd64/conntrack-nft/stdout.jsonl'), '--json']);
    expect(h.exitCode, h.stderr).toBe(0);
    expectSchema('parse-hooks', JSON.parse(h.stdout));
    expect(JSON.stringify(JSON.parse(h.stdout).hooks)).toContain('ipv4_confirm');
  });
});

describe('nfscope parse: the article\'s own tools (real runs, Debian 6.1 micro-VM)', () => {
  it('parse hooks reads list-nf-hooks into the same report as nfscope\'s drgn backend', async () => {
    const a = await nfscope(['parse', 'hooks', F('article/6.1.0-56-amd64/list-nf-hooks/stdout.txt'), '--json']);
    const b = await nfscope(['parse', 'hooks', F('article/6.1.0-56-amd64/list-nf-hooks/nf_hooks.py.jsonl'), '--json']);
    expect(a.exitCode, a.stderr).toBe(0);
    expect(b.exitCode, b.stderr).toBe(0);
    expectSchema('parse-hooks', JSON.parse(a.stdout));
    expect(JSON.parse(a.stdout)).toMatchObject({ source: 'list-nf-hooks', hooks: JSON.parse(b.stdout).hooks });
  });
  it('parse trace-prerouting: the two callbacks that saw each SYN', async () => {
    const r = await nfscope(['parse', 'trace-prerouting', F('article/6.1.0-56-amd64/trace-conntrack-prerouting/stdout.txt'), '--json']);
    expect(r.exitCode, r.stderr).toBe(0);
    expectSchema('parse-trace-prerouting', JSON.parse(r.stdout));
    expect(JSON.parse(r.stdout).callbacks).toEqual([
      { hook: 'PRE_ROUTING', callback: 'ipv4_conntrack_defrag', owner: 'defrag', conntrack: false, hits: 2 },
      { hook: 'PRE_ROUTING', callback: 'ipv4_conntrack_in', owner: 'conntrack', conntrack: true, hits: 2 },
    ]);
  });
});

describe('nfscope parse: bad input', () => {
  const kinds = ['function-graph', 'kstack', 'bpftrace-json', 'conntrack', 'nft-hooks', 'hooks', 'trace-prerouting'];
  it('garbage, binary and empty files: exit 6 with the line, for every kind', async () => {
    const garbage = join(tmp, 'garbage.txt');
    writeFileSync(garbage, 'hello $(touch /tmp/x)\n\u0000\u0001\u0002 world\n');
    const empty = join(tmp, 'empty.txt');
    writeFileSync(empty, '');
    for (const kind of kinds) {
      // An empty `conntrack -L` is a real state (no flows), not an error.
      for (const f of kind === 'conntrack' ? [garbage] : [garbage, empty]) {
        const r = await nfscope(['parse', kind, f]);
        expect(r.exitCode, `${kind} ${f}: ${r.stdout} ${r.stderr}`).toBe(6);
        expect(r.stderr).toMatch(/line \d+/);
      }
    }
  });
  it('conntrack: an empty table is 0 flows, not an error', async () => {
    const r = await execa('node', [CLI, 'parse', 'conntrack', '-', '--json'], { input: '', reject: false });
    expect(r.exitCode).toBe(0);
    expectSchema('parse-conntrack', JSON.parse(r.stdout));
    expect(JSON.parse(r.stdout).flows).toEqual([]);
  });
  it('missing file, a directory, an unknown kind: exit 2 before reading anything', async () => {
    expect((await nfscope(['parse', 'kstack', join(tmp, 'nope')])).exitCode).toBe(2);
    expect((await nfscope(['parse', 'kstack', tmp])).exitCode).toBe(2);
    const r = await nfscope(['parse', 'pcap', '-']);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/unknown KIND "pcap"/);
  });
});

describe('parse: adversarial input is bounded (issue 15)', () => {
  // 60 MB of `[` (nesting), and 60 MB in one line: each kind ends in exit 6, in bounded memory and time.
  const big = join(tmp, 'brackets');
  const line = join(tmp, 'line');
  const nested = join(tmp, 'nested');
  writeFileSync(big, '['.repeat(60_000_000));
  writeFileSync(line, 'a'.repeat(60_000_000));
  writeFileSync(nested, '['.repeat(30_000_000) + '\n'); // under the size cap: the nesting guard decides
  /** Runs the CLI in a node that reports its own peak RSS at exit. */
  const measured = (args: string[]) => execa('node', ['--input-type=module', '-e',
    `process.on('exit', () => process.stderr.write('\\nMAXRSS_KB ' + process.resourceUsage().maxRSS + '\\n')); process.argv = [process.argv[0], ${JSON.stringify(CLI)}, ...${JSON.stringify(args)}]; await import(${JSON.stringify(CLI)});`], { reject: false, timeout: 30_000 });
  it.each(['bpftrace-json', 'hooks', 'kstack', 'conntrack', 'nft-hooks', 'function-graph', 'trace-prerouting'])('%s', async (kind) => {
    for (const f of [big, line, nested]) {
      const t0 = Date.now();
      const r = await measured(['parse', kind, f]);
      expect(r.exitCode, `${kind} ${f}: ${r.stderr.slice(0, 300)}`).toBe(6);
      expect(r.stderr).toMatch(/^nfscope: .*: line \d+: /m);
      expect(Date.now() - t0).toBeLessThan(10_000);
      expect(Number(/MAXRSS_KB (\d+)/.exec(r.stderr)![1])).toBeLessThan(256 * 1024);
    }
  });
});
