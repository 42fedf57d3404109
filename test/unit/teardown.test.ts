/**
 * Issue 26 (4): teardown that cannot be lost. A change registered during teardown is undone with
 * the rest, one registered after it is refused (a process already started is stopped at once); teardown has a deadline past which it says what it could not undo and keeps the journal;
 * commands run in their own process group, out of reach of the terminal's Ctrl-C. The journal here
 * is in a private directory (NFSCOPE_JOURNAL_DIR, read when journal.ts is imported).
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';

const dir = mkdtempSync(join(tmpdir(), 'nfscope-teardown-'));
const envBefore = process.env.NFSCOPE_JOURNAL_DIR;
process.env.NFSCOPE_JOURNAL_DIR = dir;
// `npm run test:unit` shares one module registry between files (isolate: false): a journal.ts an
// earlier file imported has /run/nfscope/journal fixed already (as non-root: EACCES; as root the
// journals went there). A fresh registry, and the next file gets the environment it had.
vi.resetModules();
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
  if (envBefore === undefined) delete process.env.NFSCOPE_JOURNAL_DIR;
  else process.env.NFSCOPE_JOURNAL_DIR = envBefore;
  vi.resetModules();
});

const { Cleanup, RunEndedError } = await import('../../src/lib/cleanup.js');
const { Journal } = await import('../../src/lib/journal.js');
const { LocalTarget } = await import('../../src/targets/local.js');

const undo = (n: string) => ({ undo: [{ argv: ['ip', 'netns', 'del', `nfs-0a1b2${n}-c`] }] });
const lines = (path: string) => readFileSync(path, 'utf8').trim().split('\n').map((l) => JSON.parse(l));

describe('teardown', () => {
  it('past its deadline it stops, says each change not undone, and keeps the journal with them pending', async () => {
    const j = Journal.open('local');
    const c = new Cleanup(j);
    const ran: string[] = [];
    c.push('first change', async () => void ran.push('first'), undo('1'));
    c.push('hangs (a hung guest)', () => new Promise<void>(() => {}), undo('2'));
    const t0 = Date.now();
    const failures = await c.runAll(300);
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(failures).toEqual([
      'hangs (a hung guest): not undone, teardown deadline of 300 ms passed while it ran',
      'first change: not undone, teardown deadline of 300 ms passed',
    ]);
    expect(ran).toEqual([]);
    // Both recorded, neither marked done: `nfscope cleanup` has them.
    const recs = lines(j.path);
    expect(recs.filter((r) => typeof r.seq === 'number').map((r) => r.what)).toEqual(['first change', 'hangs (a hung guest)']);
    expect(recs.some((r) => 'done' in r)).toBe(false);
    rmSync(j.path);
  });

  it('an undo registered while undoing is refused (its change would be, and an undo of a change never made fails); a process then is stopped at once', async () => {
    const j = Journal.open('local');
    const c = new Cleanup(j);
    const ran: string[] = [];
    c.push('outer', async () => void ran.push('outer'), undo('3'));
    let refused: unknown = null;
    let adopted: unknown = null;
    c.push('a step still going', async () => {
      try {
        c.push('made during teardown', async () => void ran.push('late'), undo('4'));
      } catch (e) {
        refused = e;
      }
      adopted = await c.adopt('a process started meanwhile', async () => void ran.push('stopped')).catch((e: unknown) => e);
      ran.push('step');
    }, undo('5'));
    expect(await c.runAll()).toEqual([]);
    expect(refused).toBeInstanceOf(RunEndedError);
    expect(adopted).toBeInstanceOf(RunEndedError);
    expect(ran).toEqual(['stopped', 'step', 'outer']);
    expect(readdirSync(dir)).not.toContain(j.path.split('/').pop()); // all undone: the journal went
  });

  it('a change registered after teardown is refused (the step never makes it), and the journal stays gone', async () => {
    const j = Journal.open('local');
    const c = new Cleanup(j);
    c.push('undone at the end', async () => {}, undo('6'));
    expect(await c.runAll()).toEqual([]);
    expect(() => c.push('made after teardown', async () => {}, undo('7'))).toThrow(RunEndedError);
    expect(readdirSync(dir)).not.toContain(j.path.split('/').pop());
  });

  it('a process adopted after teardown is stopped at once; only a failed stop is journaled, for `nfscope cleanup`', async () => {
    const j = Journal.open('local');
    const c = new Cleanup(j);
    expect(await c.runAll()).toEqual([]);
    const stopped: string[] = [];
    await expect(c.adopt('stop a tracer', async () => void stopped.push('tracer'), { kill: { pid: 4242, comm: 'bpftrace' } })).rejects.toThrow(RunEndedError);
    expect(stopped).toEqual(['tracer']);
    expect(readdirSync(dir)).not.toContain(j.path.split('/').pop());
    await expect(c.adopt('stop a stuck one', async () => { throw new Error('no answer'); }, { kill: { pid: 4243, comm: 'bpftrace' } })).rejects.toThrow(/stopping it failed: no answer/);
    const recs = lines(j.path);
    expect(recs[0]).toMatchObject({ v: 1, pid: process.pid, target: 'local' });
    expect(recs.slice(1)).toEqual([{ seq: 1, what: 'stop a stuck one', kill: { pid: 4243, comm: 'bpftrace' } }]);
    rmSync(j.path);
  });
});

describe('a change still being made when teardown starts', () => {
  // The signal's teardown runs while the step awaits its command, which goes on in its own process
  // group. Here the change is a real command that makes a file 300 ms after it starts.
  const makesLate = (path: string) => new LocalTarget().exec(['sh', '-c', 'sleep 0.3; : > "$1"', 'sh', path]);

  // Each test's directory goes whatever the test's outcome.
  const dirs: string[] = [];
  afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));
  const dir = () => {
    const d = mkdtempSync(join(tmpdir(), 'nfscope-making-'));
    dirs.push(d);
    return d;
  };

  it('is waited for: its undo runs after it ended, and nothing is left', async () => {
    const d = dir();
    const file = join(d, 'made');
    const c = new Cleanup();
    c.push('remove the file', async () => {
      const r = await new LocalTarget().exec(['rm', '-f', file]);
      expect(r.exitCode).toBe(0);
    });
    const step = c.making('make the file', () => makesLate(file));
    expect(await c.runAll()).toEqual([]);
    expect((await step).exitCode).toBe(0);
    expect(readdirSync(d)).toEqual([]);
  });

  it('the step\'s next change, asked for once the first ended, is refused: the first is waited for and undone, the second never made', async () => {
    const d = dir();
    const c = new Cleanup();
    const undoFile = (f: string) => c.push(`remove ${f}`, async () => void (await new LocalTarget().exec(['rm', '-f', join(d, f)])));
    undoFile('one');
    const step = (async () => {
      await c.making('one', () => makesLate(join(d, 'one')));
      undoFile('two');
      await c.making('two', () => makesLate(join(d, 'two')));
    })();
    // Its rejection held from the start: it comes while runAll is still undoing, before any await below.
    const stepEnd = step.then(() => null, (e: unknown) => e);
    expect(await c.runAll()).toEqual([]);
    expect(await stepEnd).toBeInstanceOf(RunEndedError);
    expect(readdirSync(d)).toEqual([]);
  });

  it('one asked for once undoing has begun is refused and never started: a step in another await when the signal came', async () => {
    const d = dir();
    const c = new Cleanup();
    c.push('remove the file', async () => void (await new LocalTarget().exec(['rm', '-f', join(d, 'late')])));
    let started = false;
    const step = (async () => {
      await new Promise((res) => setTimeout(res, 100)); // a read, a pid lookup: no change in flight
      return c.making('make the file', async () => {
        started = true;
        return makesLate(join(d, 'late'));
      });
    })();
    const undone = c.runAll();
    await expect(step).rejects.toThrow(RunEndedError);
    expect(await undone).toEqual([]);
    expect(started).toBe(false);
    expect(readdirSync(d)).toEqual([]);
  });

  it('is waited for no longer than the teardown\'s deadline', async () => {
    const c = new Cleanup();
    const ran: string[] = [];
    c.push('an undo', async () => void ran.push('undo'));
    void c.making('hangs', () => new Promise(() => {}));
    const t0 = Date.now();
    expect(await c.runAll(300)).toEqual(['an undo: not undone, teardown deadline of 300 ms passed']);
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(ran).toEqual([]);
  });
});

describe('commands on the local target', () => {
  it('run in their own process group: the terminal\'s Ctrl-C to nfscope\'s group does not reach them', async () => {
    const pgrp = (stat: string) => Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
    const mine = pgrp(readFileSync('/proc/self/stat', 'utf8'));
    const r = await new LocalTarget().exec(['cat', '/proc/self/stat']);
    expect(r.exitCode).toBe(0);
    const theirs = pgrp(r.stdout);
    expect(theirs).not.toBe(mine);
    // The group is the command's own (setsid): its pid leads it.
    expect(theirs).toBe(Number(r.stdout.split(' ')[0]));
  });
});
