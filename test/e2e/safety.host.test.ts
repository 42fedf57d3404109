/**
 * Issue 15: every way a run can end undoes its changes, and a hostile machine
 * (files, symlinks and journals planted by another user) gets nothing out of
 * nfscope running as root. Each test here failed before its fix.
 */
import { execa } from 'execa';
import { createHash } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, leftoversSince, machineState, nfscope, ROOT } from '../helpers/sys.js';
import { startSshd } from '../helpers/sshd.js';
import { Cleanup } from '../../src/lib/cleanup.js';
import { lockTracing, TRACING_LOCK } from '../../src/tools/tracing-lock.js';
import { LocalTarget } from '../../src/targets/local.js';
import { SshTarget } from '../../src/targets/ssh.js';
import { parseSshSpec } from '../../src/targets/ssh-spec.js';
import { expectSchema } from '../helpers/schema.js';

const NOBODY = 65534;
const tmp = mkdtempSync(join(tmpdir(), 'nfscope-safety-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('every way a run ends undoes it', () => {
  it('`trace-syn 2>&1 | head -1`: the reader goes after the first line; nothing is left', async () => {
    const before = machineState();
    // A real shell pipeline, as a user types it.
    const r = await execa('bash', ['-c', `node ${JSON.stringify(CLI)} trace-syn --port 2571 2>&1 | head -1; echo "rc=\${PIPESTATUS[0]}"`], { reject: false, timeout: 120_000 });
    expect(r.stdout).toMatch(/rc=141$/); // 128 + SIGPIPE: it noticed, undid, and said so by its code
    expect(await leftoversSince(before)).toEqual([]);
  }, 150_000);

  // The hang-up comes when the run says it reached a stage (its own progress line), not at a fixed
  // time: a fixed delay could land before node had installed the handlers, or after the run had
  // finished, and the test then accepted whatever happened. By the first stage the run may have
  // made no change yet; by the others it has (the sandbox, the listing server, the tracer).
  it.each([
    ['creating the sandbox', 0],
    ['starting the hook listing server', 1],
    ['attaching skb:kfree_skb', 1],
    ['sending 2 SYN', 1],
  ] as const)('SIGHUP once it says "%s": exit 129, its changes undone, nothing left', async (stage, atLeast) => {
    const before = machineState();
    const child = execa('node', [CLI, 'trace-syn', '--port', '2572', '--count', '2'], { reject: false });
    let err = '';
    await new Promise<void>((resolve, reject) => {
      child.stderr!.on('data', (d: Buffer) => {
        err += d.toString();
        if (err.includes(`… ${stage}`)) resolve();
      });
      void child.then((r) => reject(new Error(`trace-syn ended (${r.exitCode}) before "${stage}": ${err}`)));
    });
    child.kill('SIGHUP');
    const r = await child;
    expect(r.exitCode, r.stderr).toBe(129);
    const n = Number(/SIGHUP: undoing (\d+) change/.exec(r.stderr)?.[1]);
    expect(n, r.stderr).toBeGreaterThanOrEqual(atLeast);
    expect(r.stderr).not.toMatch(/cleanup failed/);
    expect(await leftoversSince(before)).toEqual([]);
  }, 120_000);
});

describe('reports are written safely', () => {
  it('lab --report through a symlink planted by another user: exit 2, the link\'s target untouched', async () => {
    const victim = join(tmp, 'victim.html');
    writeFileSync(victim, 'precious\n');
    const theirs = join(tmp, 'theirs');
    mkdirSync(theirs);
    symlinkSync(victim, join(theirs, 'r.html'));
    chownSync(theirs, NOBODY, NOBODY);
    const r = await nfscope(['lab', '--report', join(theirs, 'r.html')]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/belongs to uid 65534|symbolic link/);
    expect(readFileSync(victim, 'utf8')).toBe('precious\n');
    // The same link in a directory of our own: still refused (a link could point anywhere).
    const ours = mkdtempSync(join(tmp, 'ours-'));
    symlinkSync(victim, join(ours, 'r.html'));
    const r2 = await nfscope(['lab', '--report', join(ours, 'r.html')]);
    expect(r2.exitCode).toBe(2);
    expect(r2.stderr).toMatch(/symbolic link/);
    expect(readFileSync(victim, 'utf8')).toBe('precious\n');
  });

  it.each(['/dev/null.html', '/proc/self/x.md', '/sys/kernel/r.html'])('refuses %s before anything runs', async (p) => {
    const r = await nfscope(['lab', '--report', p]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/devices or kernel files/);
  });

  it('a symlink planted after the check is replaced, never written through', async () => {
    const { writeReport } = await import('../../src/lib/safe-write.js');
    const dir = mkdtempSync(join(tmp, 'race-'));
    const victim = join(tmp, 'victim2.md');
    writeFileSync(victim, 'precious\n');
    await writeReport(join(dir, 'r.md'), 'first\n');
    expect(readFileSync(join(dir, 'r.md'), 'utf8')).toBe('first\n');
    expect(statSync(join(dir, 'r.md')).mode & 0o777).toBe(0o644);
    // Any leftover temporary file would show here.
    expect(readdirSync(dir)).toEqual(['r.md']);
    rmSync(join(dir, 'r.md'));
    symlinkSync(victim, join(dir, 'r.md'));
    await expect(writeReport(join(dir, 'r.md'), 'second\n')).rejects.toThrow(/symbolic link/);
    expect(readFileSync(victim, 'utf8')).toBe('precious\n');
    expect(readdirSync(dir)).toEqual(['r.md']);
  });
});

describe('a journal can only undo what nfscope does', () => {
  const journal = (dir: string, undo: unknown) => {
    writeFileSync(join(dir, '999999-deadbeef.jsonl'), [
      JSON.stringify({ v: 1, pid: 999999, host: 'x', started: '2026-01-01T00:00:00Z', argv: ['trace-syn'], target: 'local' }),
      JSON.stringify({ seq: 1, what: 'ip netns del nfs-000000-c', undo }),
      JSON.stringify({ seq: 2, what: 'stop tracer', kill: { pid: process.pid, comm: 'node' } }),
    ].join('\n') + '\n', { mode: 0o600 });
  };

  it('a planted undo runs nothing (a canary proves it); --dry-run shows its argv as refused', async () => {
    const dir = mkdtempSync(join(tmp, 'journal-'));
    const canary = join(tmp, 'canary');
    journal(dir, [{ argv: ['sh', '-c', `touch ${canary}`] }]);
    const env = { ...process.env, NFSCOPE_JOURNAL_DIR: dir };
    const dry = await execa('node', [CLI, 'cleanup', '--dry-run', '--json'], { reject: false, env });
    expectSchema('cleanup', JSON.parse(dry.stdout));
    const rep = JSON.parse(dry.stdout).journals[0];
    expect(rep.actions).toEqual([
      { what: 'stop tracer', argv: [['kill', '-KILL', String(process.pid), '(comm node)']], result: expect.stringMatching(/^refused: comm "node"/) },
      { what: 'ip netns del nfs-000000-c', argv: [['sh', '-c', `touch ${canary}`]], result: expect.stringMatching(/^refused: not an undo nfscope writes/) },
    ]);
    const text = await execa('node', [CLI, 'cleanup', '--dry-run'], { reject: false, env });
    expect(text.stdout).toContain(`$ sh -c 'touch ${canary}'`);
    const real = await execa('node', [CLI, 'cleanup'], { reject: false, env });
    expect(real.exitCode).toBe(5);
    expect(existsSync(canary)).toBe(false);
    // We are alive: the kill was refused, not sent.
    expect(readdirSync(dir)).toEqual(['999999-deadbeef.jsonl']); // kept for a human to read
  });

  it('a journal directory another user can write, or a journal they own, is not read at all', async () => {
    const dir = mkdtempSync(join(tmp, 'journal-'));
    journal(dir, [{ argv: ['ip', 'netns', 'del', 'nfs-000000-c'] }]);
    chmodSync(dir, 0o777);
    const env = { ...process.env, NFSCOPE_JOURNAL_DIR: dir };
    let r = await execa('node', [CLI, 'cleanup', '--json'], { reject: false, env });
    expect(JSON.parse(r.stdout).journals[0]).toMatchObject({ untrusted: expect.stringMatching(/written by other users/), actions: [] });
    chmodSync(dir, 0o700);
    chownSync(join(dir, '999999-deadbeef.jsonl'), NOBODY, NOBODY);
    r = await execa('node', [CLI, 'cleanup', '--json'], { reject: false, env });
    expect(JSON.parse(r.stdout).journals[0]).toMatchObject({ untrusted: expect.stringMatching(/belongs to uid 65534/), actions: [] });
    expect(r.exitCode).toBe(5);
  });

  it('every undo a real run journals is allowed (shapes from the code that writes them)', async () => {
    const { refuseUndo } = await import('../../src/lib/undo-allowlist.js');
    const { firewallPlan } = await import('../../src/tools/firewall.js');
    const { inNetns } = await import('../../src/tools/netns.js');
    for (const fw of ['iptables', 'nft'] as const) for (const fam of ['ipv4', 'ipv6'] as const) for (const after of [false, true]) {
      for (const s of firewallPlan(fw, fam, 2571, after, '0a1b2c').steps) {
        if (!s.undo) continue;
        expect(refuseUndo({ argv: inNetns({ kind: 'named', name: 'nfs-0a1b2c-s' }, s.undo) })).toBeNull();
        expect(refuseUndo({ argv: inNetns({ kind: 'current' }, s.undo) })).toBeNull(); // --in-place
      }
    }
    for (const bad of [['sh', '-c', 'id'], ['nsenter', '--net=/run/netns/nfs-0a1b2c-s', '--', 'sh'], ['rm', '-rf', '/'], ['rm', '-rf', '/run/nfscope/../../etc'],
      ['tee', '/etc/passwd'], ['ip', 'netns', 'del', 'production'], ['iptables', '-D', 'INPUT', '1'], ['iptables', '-F'], ['nft', 'flush', 'ruleset'],
      ['nft', 'delete', 'table', 'inet', 'filter'], ['umount', '/'], ['rmdir', '/sys/kernel/tracing/instances/theirs'],
      // Issue 26: by spec alone (no run comment), -D takes the user's identical rule; a fixed table name may be theirs.
      ['iptables', '-D', 'INPUT', '-m', 'conntrack', '--ctstate', 'ESTABLISHED,RELATED', '-j', 'ACCEPT'], ['iptables', '-D', 'INPUT', '-p', 'tcp', '--dport', '22', '-j', 'DROP'],
      ['iptables', '-D', 'INPUT', '-p', 'tcp', '--dport', '22', '-j', 'ACCEPT', '-m', 'comment', '--comment', 'nfscope:0a1b2c'],
      ['iptables', '-D', 'INPUT', '-m', 'conntrack', '--ctstate', 'ESTABLISHED,RELATED', '-j', 'ACCEPT', '-m', 'comment', '--comment', 'mine'],
      ['nft', 'delete', 'table', 'ip', 'nfscope_ct'], ['nft', 'delete', 'table', 'ip', 'nfscope_drop']]) {
      expect(refuseUndo({ argv: bad }), bad.join(' ')).not.toBeNull();
    }
  });
});

describe('the tracing lock', () => {
  it('is taken once, released when its holder dies, never left ownerless', async () => {
    const t = new LocalTarget();
    const a = new Cleanup();
    const b = new Cleanup();
    // Race two takers: exactly one wins.
    const res = await Promise.allSettled([lockTracing(t, a, 'test a'), lockTracing(t, b, 'test b')]);
    expect(res.filter((x) => x.status === 'fulfilled')).toHaveLength(1);
    expect((res.find((x) => x.status === 'rejected') as PromiseRejectedResult).reason.message).toMatch(/in use by another nfscope run/);
    const held = async () => (await execa('flock', ['-n', '-E', '75', TRACING_LOCK, 'true'], { reject: false })).exitCode === 75;
    expect(await held()).toBe(true);
    await a.runAll();
    await b.runAll();
    expect(await held()).toBe(false);
    // A holder killed outright (as a SIGKILLed nfscope's is, by pdeathsig) frees it at once.
    const c = new Cleanup();
    await lockTracing(t, c, 'test c');
    // The holder, from the kernel's own list of locks (/proc/locks: "N: FLOCK ADVISORY WRITE PID MAJ:MIN:INODE …").
    const ino = statSync(TRACING_LOCK).ino;
    const holder = readFileSync('/proc/locks', 'utf8').split('\n').filter((l) => l.includes('FLOCK') && l.split(/\s+/)[5]?.endsWith(`:${ino}`));
    expect(holder).toHaveLength(1);
    process.kill(Number(holder[0]!.split(/\s+/)[4]), 'SIGKILL');
    await new Promise((r) => setTimeout(r, 200));
    expect(await held()).toBe(false);
    await c.runAll();
  });
});

describe('a tracing lock holder a killed run left (as in a `vm up` guest, where no pdeathsig reaches it)', () => {
  it('cleanup kills the journaled holder of nfscope\'s lock (flock --no-fork: a `sleep`), and not a `sleep` holding another file', async () => {
    const dir = mkdtempSync(join(tmp, 'journal-'));
    const other = join(tmp, 'someone-elses.lock');
    // Started by the test, not through nfscope: nothing kills them when a run dies.
    mkdirSync('/run/nfscope', { recursive: true, mode: 0o755 });
    const ours = execa('flock', ['--nonblock', '--no-fork', TRACING_LOCK, 'sleep', '60'], { reject: false });
    const theirs = execa('flock', ['--nonblock', '--no-fork', other, 'sleep', '60'], { reject: false });
    try {
      await new Promise((r) => setTimeout(r, 300));
      const held = async () => (await execa('flock', ['-n', '-E', '75', TRACING_LOCK, 'true'], { reject: false })).exitCode === 75;
      expect(await held()).toBe(true);
      writeFileSync(join(dir, '999998-deadbeef.jsonl'), [
        JSON.stringify({ v: 1, pid: 999998, host: 'x', started: '2026-01-01T00:00:00Z', argv: ['graph'], target: 'local' }),
        JSON.stringify({ seq: 1, what: 'release the lock', kill: { pid: ours.pid, comm: 'sleep' } }),
        JSON.stringify({ seq: 2, what: 'release another lock', kill: { pid: theirs.pid, comm: 'sleep' } }),
      ].join('\n') + '\n', { mode: 0o600 });
      const r = await execa('node', [CLI, 'cleanup', '--json'], { reject: false, env: { ...process.env, NFSCOPE_JOURNAL_DIR: dir } });
      expect(r.exitCode, r.stdout + r.stderr).toBe(0);
      expect(JSON.parse(r.stdout).journals[0].actions.map((a: { result: string }) => a.result)).toEqual(['not running', 'killed']);
      await ours;
      expect(await held()).toBe(false);
      // The other holder lives on (signal 0: it exists).
      expect(() => process.kill(theirs.pid!, 0)).not.toThrow();
    } finally {
      ours.kill('SIGKILL');
      theirs.kill('SIGKILL');
      await Promise.allSettled([ours, theirs]);
    }
  });
});

describe('vm down checks whom it kills', () => {
  it('a stale VM state naming a live pid of something else kills nothing', async ({ skip }) => {
    const state = '/run/nfscope/vm/current.json';
    // The user's own VM (nfscope vm up) is not a failure of the test: it is left alone, and said.
    if (existsSync(state)) {
      console.log(`safety: "vm down checks whom it kills" skipped: a VM is up (${state}), whose state this test would replace`);
      skip(`a VM is up (${state})`);
    }
    const victim = execa('sleep', ['60'], { reject: false });
    try {
      mkdirSync('/run/nfscope/vm', { recursive: true, mode: 0o700 });
      // The pid is right, the start time is not: the VM it named ended and the pid went to `sleep`.
      writeFileSync(state, JSON.stringify({ pid: victim.pid, startTime: '1', runDir: '/etc', socket: '/nonexistent' }));
      const r = await nfscope(['vm', 'down']);
      expect(r.exitCode, r.stderr).toBe(0);
      expect(victim.exitCode).toBeNull(); // still running
      expect(() => process.kill(victim.pid!, 0)).not.toThrow();
      expect(existsSync('/etc/passwd')).toBe(true);
      expect(existsSync(state)).toBe(false); // the stale state is gone
    } finally {
      victim.kill('SIGKILL');
      rmSync(state, { force: true });
    }
  });
});

describe('ssh: nothing planted on the remote runs', () => {
  let sshd: Awaited<ReturnType<typeof startSshd>>;
  const old = `/tmp/nfscope-0`;
  const hash = (rel: string) => createHash('sha256').update(readFileSync(join(ROOT, rel), 'utf8')).digest('hex').slice(0, 12);
  beforeAll(async () => {
    sshd = await startSshd();
    Object.assign(process.env, sshd.env);
  });
  /** Whether this test planted `old` (a copy that was there before is someone's, and stays). */
  let planted = false;
  afterAll(async () => {
    await sshd?.stop();
    if (planted) rmSync(old, { recursive: true, force: true });
  });

  it('a planted script and a planted symlink where a shared /tmp copy would go are never used or followed', async ({ skip }) => {
    if (existsSync(old)) {
      console.log(`safety: the planted /tmp copy test skipped: ${old} exists already, not ours to replace`);
      skip(`${old} exists already`);
    }
    const canary = join(tmp, 'ssh-canary');
    const victim = join(tmp, 'ssh-victim');
    // Where nfscope ≤ 0.1 copied its scripts: /tmp/nfscope-UID/<hash of content>/REL, reused if present.
    const syn = join(old, hash('payload/net/syn.py'), 'payload/net/syn.py');
    planted = true;
    mkdirSync(join(syn, '..'), { recursive: true });
    writeFileSync(syn, `import os\nopen(${JSON.stringify(canary)}, 'w').write('ran as %d' % os.getuid())\n`);
    const bt = join(old, hash('bpf/kfree_skb_syn.bt'), 'bpf/kfree_skb_syn.bt');
    mkdirSync(join(bt, '..'), { recursive: true });
    symlinkSync(victim, bt); // a copy through it would create (or overwrite) the victim
    await execa('chown', ['-R', `${NOBODY}:${NOBODY}`, old]);
    const r = await execa('node', [CLI, 'trace-syn', '--target', sshd.spec, '--port', '2571', '--json'], { reject: false, env: sshd.env, timeout: 120_000 });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).drop.reason).toBe('NETFILTER_DROP');
    expect(existsSync(canary)).toBe(false);
    expect(existsSync(victim)).toBe(false);
  }, 150_000);

  it('bundled files live in a private directory of the run (root, 0700), gone when it closes', async () => {
    const t = new SshTarget(parseSshSpec(sshd.spec));
    let dir = '';
    try {
      const p = await t.bundled('payload/net/syn.py');
      dir = p.slice(0, -'/payload/net/syn.py'.length);
      const st = statSync(dir);
      expect([st.uid, st.mode & 0o777]).toEqual([0, 0o700]);
      expect(readFileSync(p, 'utf8')).toBe(readFileSync(join(ROOT, 'payload/net/syn.py'), 'utf8'));
      // One session for the whole run: a second file comes into the same directory.
      expect((await t.bundled('bpf/kfree_skb_syn.bt')).startsWith(dir + '/')).toBe(true);
    } finally {
      await t.close();
    }
    expect(existsSync(dir)).toBe(false);
  });
});
