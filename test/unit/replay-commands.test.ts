/**
 * Each command through the replay target (src/targets/replay.ts): recordings of live runs on a real
 * kernel (scripts/capture/replay-host.sh on this machine, replay-vm.sh in the micro-VM for the
 * commands that need kprobes; meta.json beside each: argv, tool versions, kernel) served
 * back without a kernel, as a user without root. Its JSON must be what the live run printed, its facts
 * those of the recorded tool output (the kernel's osrelease, bpftrace's --version, the sandbox's
 * rule), its text rendering must say them, and a recording cut short must fail, not print a report.
 */
import { chmodSync, cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI, ROOT } from '../helpers/sys.js';

const DIR = join(ROOT, 'test/fixtures/replay');
const NOBODY = 65534;
// The recordings are replayed from a copy anyone may read: the replay runs as nobody.
const tmp = mkdtempSync(join(tmpdir(), 'nfscope-replay-'));
cpSync(DIR, join(tmp, 'fixtures'), { recursive: true });
const readable = (p: string): void => {
  chmodSync(p, statSync(p).isDirectory() ? 0o755 : 0o644);
  if (statSync(p).isDirectory()) for (const n of readdirSync(p)) readable(join(p, n));
};
readable(tmp);
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

type Meta = { argv: string[]; exit: number; kernel: string; tool: string };
type Ev = { t: string; id: number; op?: string; args?: unknown[]; argv?: string[]; result?: unknown; line?: string };

const cases = readdirSync(DIR).flatMap((kernel) => readdirSync(join(DIR, kernel)).filter((f) => f.endsWith('.meta.json')).map((f) => {
  const name = f.slice(0, -'.meta.json'.length);
  return { kernel, name, file: join(tmp, 'fixtures', kernel, `${name}.json.gz`), meta: JSON.parse(readFileSync(join(DIR, kernel, f), 'utf8')) as Meta };
}));

/** `v` with every durationS taken out (into `found`): the one field a replay cannot reproduce. */
function ownClock(v: unknown, found: number[]): unknown {
  if (Array.isArray(v)) return v.map((x) => ownClock(x, found));
  if (v === null || typeof v !== 'object') return v;
  return Object.fromEntries(Object.entries(v).flatMap(([k, x]) => {
    if (k === 'durationS' && typeof x === 'number') {
      found.push(x);
      return [];
    }
    return [[k, ownClock(x, found)]];
  }));
}

const events = (file: string): Ev[] => JSON.parse(gunzipSync(readFileSync(file)).toString('utf8')).events;

/** The recorded answer to a call: what the machine said, read here without nfscope's code. */
function answer(evs: Ev[], op: string, args: unknown[]): unknown {
  const call = evs.find((e) => e.t === 'call' && e.op === op && JSON.stringify(e.args) === JSON.stringify(args));
  return call ? evs.find((e) => e.t === 'done' && e.id === call.id)?.result : undefined;
}

/** The CLI against a recording, as nobody when the suite runs as root: a replay needs no privilege. */
function replay(file: string, argv: string[]) {
  const asNobody = process.getuid?.() === 0 ? ['setpriv', '--reuid', String(NOBODY), '--regid', String(NOBODY), '--clear-groups', '--'] : [];
  const cmd = [...asNobody, 'node', CLI, ...argv, '--target', `replay:${file}`];
  return execa(cmd[0]!, cmd.slice(1), { reject: false, timeout: 60_000, env: { NFSCOPE_REPLAY_STALL_MS: '5000' } });
}

describe.each(cases)('$name on $kernel, replayed', ({ kernel, name, file, meta }) => {
  const evs = events(file);
  it('prints the JSON the live run printed, with the recorded kernel and tools', async () => {
    const r = await replay(file, meta.argv);
    expect(r.exitCode, r.stderr).toBe(meta.exit);
    const live = JSON.parse(readFileSync(join(DIR, kernel, `${name}.stdout.json`), 'utf8'));
    // durationS is how long nfscope itself traced, by its own clock (lifetimes, follow): a replay
    // serves the recorded lines at once, so it is checked to be there, not to be equal.
    const clocks: number[] = [];
    const liveClocks: number[] = [];
    expect(ownClock(JSON.parse(r.stdout), clocks)).toEqual(ownClock(live, liveClocks));
    expect(clocks.length).toBe(liveClocks.length);
    for (const c of clocks) expect(c).toBeGreaterThanOrEqual(0);
    const osrelease = String(answer(evs, 'readFile', ['/proc/sys/kernel/osrelease'])).trim();
    expect(osrelease).toBe(kernel);
    expect(live.kernel).toBe(osrelease);
    if (name === 'doctor') {
      // bpftrace's own words for its version, from the recorded `bpftrace --version`.
      const v = evs.find((e) => e.t === 'call' && e.op === 'exec' && /bpftrace$/.test(String((e.args![0] as string[])[0])) && (e.args![0] as string[])[1] === '--version');
      const said = (evs.find((e) => e.t === 'done' && e.id === v!.id)!.result as { stdout: string }).stdout;
      expect(JSON.stringify(live.tools)).toContain(/v?(\d+\.\d+\.\d+)/.exec(said)![1]);
    }
    if (name === 'lab') {
      // The recorded run confirmed the article's five claims (a fresh 6.1 micro-VM, scripts/capture/replay-vm.sh).
      expect(live.claims.map((c: { status: string }) => c.status)).toEqual(['confirmed', 'confirmed', 'confirmed', 'confirmed', 'confirmed']);
      // The SYN tracer's lines are in the recording: the callbacks and the unconfirmed entry came from it.
      expect(evs.some((e) => e.t === 'line' && /^\{"type": "printf", "data": "A /.test(String(e.line)))).toBe(true);
    }
    if (name === 'hooks') {
      // The netns holds an iptables rule and a conntrack rule (the capture's set-up): the filter
      // and conntrack's callbacks are listed.
      const callbacks = live.hooks.flatMap((h: { entries: { callback: string }[] }) => h.entries.map((e) => e.callback));
      expect(callbacks).toEqual(expect.arrayContaining(['ipv4_conntrack_in']));
      expect(callbacks.some((c: string) => /^(nft_do_chain_ipv4|ipt_do_table|iptable_filter_hook)$/.test(c))).toBe(true);
    }
  });

  it('its text rendering says the same run', async () => {
    const r = await replay(file, meta.argv.filter((a) => a !== '--json'));
    expect(r.exitCode, r.stderr).toBe(meta.exit);
    expect(r.stdout).toContain(kernel);
  });

  const other = meta.argv.map((a, i) => (meta.argv[i - 1] === '--port' ? String(Number(a) + 1) : meta.argv[i - 1] === '--family' ? (a === 'ipv4' ? 'ipv6' : 'ipv4') : a));
  it.runIf(other.join(' ') !== meta.argv.join(' '))('another command (another --port or --family) is refused: the recording answers only its own', async () => {
    const r = await replay(file, other);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/the recording is of `nfscope /);
    expect(r.stdout).toBe('');
  });

  it('holding a call the run never makes, the run fails at its end (exit 5): it did not go as recorded', async () => {
    // The recording's first call and answer once more at its end, under a new id: a step the command
    // no longer takes, as a regression that drops one would leave.
    const raw = JSON.parse(gunzipSync(readFileSync(file)).toString('utf8'));
    const first = raw.events.find((e: Ev) => e.t === 'call');
    const answer1 = raw.events.find((e: Ev) => e.t === 'done' && e.id === first.id);
    const id = 1 + Math.max(...raw.events.map((e: Ev) => e.id));
    raw.events.push({ ...first, id }, { ...answer1, id });
    const more = join(tmp, 'fixtures', kernel, `${name}.more.json.gz`);
    writeFileSync(more, gzipSync(JSON.stringify(raw)), { mode: 0o644 });
    const r = await replay(more, meta.argv);
    expect(r.exitCode, r.stderr).toBe(5);
    expect(r.stderr).toMatch(/replay: (the run ended with 2 of \d+ recorded events unasked|the recording expects)/);
    expect(r.stdout).toBe('');
  });

  it.runIf(evs.some((e) => e.t === 'spawn'))('cut while a tracer runs, it fails (exit 5) and ends: no stop waits forever', async () => {
    const raw = JSON.parse(gunzipSync(readFileSync(file)).toString('utf8'));
    const at = raw.events.findIndex((e: Ev) => e.t === 'spawn');
    raw.events = raw.events.slice(0, at + 1);
    const cut = join(tmp, 'fixtures', kernel, `${name}.cut-spawn.json.gz`);
    writeFileSync(cut, gzipSync(JSON.stringify(raw)), { mode: 0o644 });
    const t0 = Date.now();
    const r = await replay(cut, meta.argv);
    expect(r.exitCode, r.stderr).toBe(5);
    expect(r.stderr).toMatch(/replay: the recording (ends|expects)/);
    expect(r.stdout).toBe('');
    expect(Date.now() - t0).toBeLessThan(30_000);
  });

  it('cut short, it fails saying what the recording lacks; no report is printed', async () => {
    // The first half of the events: the run asks what the recording no longer answers.
    const raw = JSON.parse(gunzipSync(readFileSync(file)).toString('utf8'));
    raw.events = raw.events.slice(0, Math.floor(raw.events.length / 2));
    const cut = join(tmp, 'fixtures', kernel, `${name}.cut.json.gz`);
    writeFileSync(cut, gzipSync(JSON.stringify(raw)), { mode: 0o644 });
    const r = await replay(cut, meta.argv);
    expect(r.exitCode).toBe(5);
    expect(r.stderr).toMatch(/replay: the recording (ends|expects)/);
    expect(r.stdout).toBe('');
  });
});
