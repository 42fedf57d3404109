import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { LocalTarget, underPdeathsig } from '../../src/targets/local.js';
import { ExecBackedTarget } from '../../src/targets/exec-backed.js';
import type { RawRun } from '../../src/targets/target.js';
import { ROOT } from '../helpers/sys.js';

describe('LocalTarget reads files', () => {
  const t = new LocalTarget();
  it('kernel-made files (/proc, /sys, the BTF read in one blocking loop) whole, as the kernel gives them', async () => {
    if (existsSync('/sys/kernel/btf/vmlinux')) expect((await t.readFileBuffer('/sys/kernel/btf/vmlinux'))!.equals(readFileSync('/sys/kernel/btf/vmlinux'))).toBe(true);
    expect(await t.readFile('/proc/sys/kernel/osrelease')).toBe(readFileSync('/proc/sys/kernel/osrelease', 'utf8'));
    // Longer than one page: read(2) on procfs hands out a page at a time.
    const maps = await t.readFileBuffer('/proc/self/maps');
    expect(maps?.length).toBeGreaterThan(4096);
    expect(maps?.toString()).toMatch(/\[stack\]/);
  });
  it('a failure that is not the file\'s answer throws (EISDIR: a directory read as a file); absent and refused are null', async () => {
    await expect(t.readFile('/proc/self')).rejects.toThrow(/reading \/proc\/self: EISDIR/);
    expect(await t.listDir('/proc/self/no-such-dir')).toBeNull();
    expect(await t.exists('/proc/no-such-file')).toBe(false);
  });
  it('other files, and null for what is not there', async () => {
    expect(await t.readFile(`${ROOT}/package.json`)).toBe(readFileSync(`${ROOT}/package.json`, 'utf8'));
    expect(await t.readFile('/proc/no-such-file')).toBeNull();
    expect(await t.readFileBuffer('/nonexistent/x')).toBeNull();
  });
});

describe('a stop says whose SIGKILL ended the process', () => {
  const t = new LocalTarget();
  // One process each (no child to hold the pipe open), READY once its handler is set: a signal
  // before that would end it the default way.
  const started = (argv: string[]) => {
    const p = t.spawn(argv);
    return new Promise<typeof p>((res) => p.onLine((l) => l === 'READY' && res(p)));
  };
  it("nfscope's own, after the grace, when SIGINT did not end it", async () => {
    const p = await started(['python3', '-c', 'import signal; signal.signal(signal.SIGINT, signal.SIG_IGN); print("READY", flush=True); signal.pause()']);
    // What the kernel says it waits in, read before the stop once it sleeps in pause() (READY comes
    // just before; a running task's wchan reads 0). The ignored SIGINT does not wake it.
    let wchan = '0';
    for (const end = Date.now() + 5000; wchan === '0' && Date.now() < end; await new Promise((r) => setTimeout(r, 20))) {
      wchan = readFileSync(`/proc/${p.pid}/wchan`, 'utf8').trim();
    }
    expect(wchan).not.toBe('0');
    // Whether a kernel stack can be read here (CAP_SYS_ADMIN, CONFIG_STACKTRACE): as this test can its own.
    let ownStack: string;
    try {
      ownStack = readFileSync('/proc/self/stack', 'utf8') ? 'readable' : 'empty';
    } catch (e) {
      ownStack = (e as NodeJS.ErrnoException).code ?? 'unreadable';
    }
    const r = await p.stop(300);
    expect(r.signal).toBe('SIGKILL');
    expect(r.stderr).toContain('nfscope sent SIGKILL: it had not exited 0.3 s after SIGINT');
    // The evidence of a process that would not stop: its tasks as the kernel saw them at the kill.
    expect(r.stderr).toContain(`when nfscope sent SIGKILL, its tasks were (/proc/PID/task/TID):\n  pid ${p.pid} (python3)\n    task ${p.pid} (python3) state S, wchan ${wchan}\n`);
    if (ownStack === 'readable') expect(r.stderr).toMatch(/\n {6}\[<0>\] \S+\+0x/);
    else if (ownStack !== 'empty') expect(r.stderr).toContain(`      kernel stack unreadable (${ownStack})`);
  });
  it('a timeout kills the whole group, and says what each of its processes was doing', async () => {
    const r = await t.exec(['sh', '-c', 'sleep 30; :'], { timeoutMs: 500 });
    expect(r.timedOut).toBe(true);
    expect(r.stderr).toMatch(/^when its 500 ms ran out, its tasks were \(\/proc\/PID\/task\/TID\):\n  pid (\d+) \(sh\)\n    task \1 \(sh\) state S, wchan \S+\n/);
    expect(r.stderr).toMatch(/\n  pid (\d+) \(sleep\)\n    task \1 \(sleep\) state S, wchan \S+\n/);
  });
  it('one nfscope did not send (here the process sends it to itself on SIGINT)', async () => {
    const p = await started(['python3', '-c', 'import os, signal; signal.signal(signal.SIGINT, lambda *a: os.kill(os.getpid(), signal.SIGKILL)); print("READY", flush=True); signal.pause()']);
    const r = await p.stop(20_000);
    expect(r.signal).toBe('SIGKILL');
    expect(r.stderr).toMatch(/ended by SIGKILL, which nfscope did not send \(\d+ ms after its SIGINT\)/);
  });
});

describe('a child that would outlive nfscope never starts', () => {
  // underPdeathsig's argv run by a parent that is not nfscope stands for nfscope having died before
  // the death signal was armed (the child reparented): the wrapper must not exec argv.
  const argv = underPdeathsig(['sh', '-c', 'echo RAN']);
  const wrapped = argv[0] !== 'sh';
  it.skipIf(!wrapped)('run by another parent: exit 125, argv not run; by nfscope itself: run', () => {
    // `; exit $?` keeps sh the parent (no exec of its last command).
    const other = spawnSync('sh', ['-c', '"$@"; exit $?', 'sh', ...argv], { encoding: 'utf8', timeout: 10_000 });
    expect(other.stdout).toBe('');
    expect(other.status).toBe(125);
    const own = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: 10_000 });
    expect([own.status, own.stdout]).toEqual([0, 'RAN\n']);
  });
  it.skipIf(!wrapped)('a command run to its end (exec) gets SIGKILL too when nfscope dies, and its run names the argv asked for', async () => {
    // PR_GET_PDEATHSIG (2), asked by the command itself: the signal its parent's death sends it.
    const argv = ['python3', '-c', 'import ctypes; s = ctypes.c_int(); ctypes.CDLL(None).prctl(2, ctypes.byref(s)); print(s.value)'];
    const r = await new LocalTarget().exec(argv, { timeoutMs: 20_000 });
    expect([r.exitCode, r.stdout.trim(), r.argv]).toEqual([0, '9', argv]);
  });
  if (!wrapped) console.log('skipped: no setpriv here, children run without pdeathsig');
});

describe('a target that runs argv: a failed read is the file\'s answer only when the tool said so', () => {
  // The transport's own results, as a VM agent or ssh returns them (RawRun): a cat that ran and
  // exited 1, and one whose run timed out with no exit status.
  class Fake extends ExecBackedTarget {
    readonly name = 'fake';
    constructor(private readonly result: Partial<RawRun>) { super(); }
    async exec(argv: string[]): Promise<RawRun> {
      return { argv, stdout: '', stderr: 'x', exitCode: 1, timedOut: false, durationMs: 1, ...this.result };
    }
    spawn(): never { throw new Error('not here'); }
    async bundled(): Promise<string> { return ''; }
    async close(): Promise<void> {}
  }
  it('exit 1: null (absent or refused); no exit status (timed out): a failure, with argv', async () => {
    expect(await new Fake({ exitCode: 1, stderr: 'cat: /x: No such file or directory' }).readFile('/x')).toBeNull();
    expect(await new Fake({ exitCode: 2 }).listDir('/x')).toBeNull();
    expect(await new Fake({ exitCode: 1 }).exists('/x')).toBe(false);
    const timedOut = new Fake({ exitCode: null, timedOut: true, stderr: 'agent: no answer' });
    await expect(timedOut.readFile('/x')).rejects.toThrow(/cat -- \/x/);
    await expect(timedOut.readFileBuffer('/x')).rejects.toThrow(/reading \/x on fake/);
    await expect(timedOut.listDir('/x')).rejects.toThrow(/ls -1A -- \/x/);
    await expect(new Fake({ exitCode: null, signal: 'SIGKILL' }).exists('/x')).rejects.toThrow(/looking for \/x on fake/);
  });
});
