/**
 * Issue 26 (1): nfscope undoes exactly what it did. In a netns of the test's own that already holds
 * the user's `-m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT` (the very rule trace-syn adds)
 * ahead of a port-22 ACCEPT, and nft tables named as nfscope's used to be, `trace-syn --in-place`
 * must leave the rules as they were: after a normal run, and after a SIGKILL plus `nfscope
 * cleanup`. Before the fix, `iptables -D` by spec deleted the user's rule (the first identical one)
 * and left nfscope's after the port-22 rule. The run is entered into the netns with nsenter (not
 * `ip netns exec`, which remounts /sys and with it the tracefs mount), and journals into a private
 * directory, so that cleanup replays this run's journal only.
 */
import { execa } from 'execa';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CLI, dropNetns, inNs, leftoversSince, machineState, makeNetns } from '../helpers/sys.js';

const USER_RULES = [
  ['iptables', '-A', 'INPUT', '-m', 'conntrack', '--ctstate', 'ESTABLISHED,RELATED', '-j', 'ACCEPT'],
  ['iptables', '-A', 'INPUT', '-p', 'tcp', '--dport', '22', '-j', 'ACCEPT'],
  // Tables of the names nfscope's had before (fixed): a user's, or another run's.
  ['nft', 'add', 'table', 'ip', 'nfscope_ct'],
  ['nft', 'add', 'table', 'ip', 'nfscope_drop'],
  ['nft', 'add', 'table', 'ip', 'nfscope_filter'],
];

let ns: string | null = null;
let journalDir: string | null = null;
afterEach(async () => {
  if (ns) await dropNetns(ns);
  if (journalDir) rmSync(journalDir, { recursive: true, force: true });
  ns = journalDir = null;
});

/** The netns's rules without counters: `iptables -S` and `nft -s` (stateless) list no packet counts. */
async function rules(name: string): Promise<string> {
  return `${await inNs(name, ['iptables', '-S'])}\n---\n${await inNs(name, ['nft', '-s', 'list', 'ruleset'])}`;
}

async function setUp(): Promise<{ name: string; env: NodeJS.ProcessEnv; before: string }> {
  ns = await makeNetns();
  for (const argv of USER_RULES) await inNs(ns, argv);
  journalDir = mkdtempSync(join(tmpdir(), 'nfscope-undo-own-')); // 0700, ours: a journal dir cleanup trusts
  return { name: ns, env: { ...process.env, NFSCOPE_JOURNAL_DIR: journalDir }, before: await rules(ns) };
}

const inNetns = (name: string, args: string[]) => ['nsenter', `--net=/run/netns/${name}`, '--', 'node', CLI, ...args];

describe('--in-place takes back its own rules, not the user\'s identical ones', () => {
  it.each([
    ['iptables', []],
    ['nft', ['--firewall', 'nft']],
    ['nft after confirm', ['--after-confirm']],
  ] as const)('%s: after a normal run the rules are as before', async (_what, extra) => {
    const machine = machineState();
    const { name, env, before } = await setUp();
    const [cmd, ...args] = inNetns(name, ['trace-syn', '--in-place', '--port', '2571', '--count', '1', '--json', ...extra]);
    const r = await execa(cmd!, args, { reject: false, env, timeout: 90_000 });
    expect(r.exitCode, r.stderr).toBe(0);
    // The run's drop rule counted the SYN: the counter read is nfscope's rule, not a user's.
    expect(JSON.parse(r.stdout).ruleCounter?.packets, r.stdout.slice(0, 2000)).toBe(1);
    expect(await rules(name)).toBe(before);
    expect(readdirSync(journalDir!)).toEqual([]);
    await dropNetns(name);
    ns = null;
    expect(await leftoversSince(machine)).toEqual([]);
  }, 120_000);

  /**
   * trace-syn --in-place in `enter` (argv prefix into the netns), SIGKILLed once its rules are in
   * (read in `rulesIn`, the netns the rules go to: `enter`'s unless --netns is among `extra`).
   */
  async function killedRun(enter: string[], env: NodeJS.ProcessEnv, port: string, extra: string[] = [], rulesIn: string[] = enter): Promise<void> {
    const [cmd, ...args] = [...enter, 'node', CLI, 'trace-syn', '--in-place', '--port', port, '--count', '1', ...extra];
    const child = execa(cmd!, args, { reject: false, env, timeout: 90_000 });
    let err = '';
    await new Promise<void>((resolve, reject) => {
      child.stderr!.on('data', (d: Buffer) => {
        err += d.toString();
        if (err.includes('… attaching')) resolve();
      });
      void child.then((x) => reject(new Error(`trace-syn ended (${x.exitCode}) before attaching: ${err}`)));
    });
    try {
      // The rules are in: nfscope's copy of the ESTABLISHED rule stands beside the user's.
      expect((await execa(rulesIn[0]!, [...rulesIn.slice(1), 'iptables', '-S', 'INPUT'])).stdout).toMatch(/--comment "?nfscope:[0-9a-f]{6}"? -j ACCEPT/);
    } catch (e) {
      // Not the state this test is about: the run is stopped the ordinary way (it undoes), and the test fails.
      child.kill('SIGINT');
      await child;
      throw e;
    }
    // nsenter execs node: its pid is node's.
    process.kill(child.pid!, 'SIGKILL');
    await child;
  }

  type Action = { what: string; result: string };
  const actionsOf = (stdout: string): Action[] => JSON.parse(stdout).journals.flatMap((j: { actions: Action[] }) => j.actions);

  it.each([
    ['inside the run\'s netns', true],
    ['from the root netns: the undos that act on the current netns go into the run\'s, by its /run/netns name', false],
  ])('SIGKILL once the rules are in, then `nfscope cleanup` %s: the rules are as before', async (_where, inside) => {
    const machine = machineState();
    const { name, env, before } = await setUp();
    await killedRun(['nsenter', `--net=/run/netns/${name}`, '--'], env, '2572');
    expect(await rules(name)).not.toBe(before);
    const [ccmd, ...cargs] = inside ? inNetns(name, ['cleanup', '--json']) : ['node', CLI, 'cleanup', '--json'];
    const c = await execa(ccmd!, cargs, { reject: false, env, timeout: 60_000 });
    expect(c.exitCode, c.stdout + c.stderr).toBe(0);
    const actions = actionsOf(c.stdout);
    expect(actions.filter((a) => a.result !== 'undone' && a.result !== 'already gone' && a.result !== 'killed' && a.result !== 'not running'), c.stdout).toEqual([]);
    expect(actions.filter((a) => /conntrack rule|DROP/.test(a.what)).map((a) => a.result)).toEqual(['undone', 'undone']);
    if (!inside) expect(JSON.parse(c.stdout).journals[0].note).toContain(`the run was in netns ${name}`);
    expect(await rules(name)).toBe(before);
    await dropNetns(name);
    ns = null;
    expect(await leftoversSince(machine)).toEqual([]);
  }, 120_000);

  type Held = { pid: number; enter: string[]; before: string; env: NodeJS.ProcessEnv; rulesThere: () => Promise<string> };
  /**
   * `body` with the test's netns held by a process whose pid names it (pid:N), its name gone as an
   * unnamed one's would be; then the holder goes, and nothing of the test may be left.
   */
  async function inHeld(body: (h: Held) => Promise<void>): Promise<void> {
    const machine = machineState();
    const { name, env, before } = await setUp();
    const holder = execa('nsenter', [`--net=/run/netns/${name}`, '--', 'sleep', '300'], { reject: false });
    try {
      // nsenter enters, then execs sleep: until it has, its pid's namespace is still the root one
      // (the rules read there were the root's: the suite at 93788e1, under load). Waited for, bounded.
      const inode = (path: string) => statSync(path).ino;
      for (const end = Date.now() + 10_000; inode(`/proc/${holder.pid}/ns/net`) !== inode(`/run/netns/${name}`);) {
        if (Date.now() > end) throw new Error(`the holder ${holder.pid} did not enter netns ${name} within 10 s`);
        await new Promise((r) => setTimeout(r, 20));
      }
      const enter = ['nsenter', `--net=/proc/${holder.pid}/ns/net`, '--'];
      const rulesThere = async () => `${(await execa(enter[0]!, [...enter.slice(1), 'iptables', '-S'])).stdout}\n---\n${(await execa(enter[0]!, [...enter.slice(1), 'nft', '-s', 'list', 'ruleset'])).stdout}`;
      expect(await rulesThere()).toBe(before);
      await dropNetns(name);
      ns = null;
      await body({ pid: holder.pid!, enter, before, env, rulesThere });
    } finally {
      holder.kill('SIGKILL');
      await holder;
    }
    expect(await leftoversSince(machine)).toEqual([]);
  }

  it('a run in a netns with no name: cleanup elsewhere says where it must run and keeps the journal; inside, it undoes', () => inHeld(async ({ enter, before, env, rulesThere }) => {
    await killedRun(enter, env, '2573');
    const c = await execa('node', [CLI, 'cleanup', '--json'], { reject: false, env, timeout: 60_000 });
    expect(c.exitCode, c.stdout + c.stderr).toBe(5);
    expect(actionsOf(c.stdout).filter((a) => /conntrack rule|DROP/.test(a.what)).map((a) => a.result)).toEqual(['skipped (in another netns)', 'skipped (in another netns)']);
    expect(JSON.parse(c.stdout).journals[0].note).toMatch(/no \/run\/netns name holds the run's: run `nfscope cleanup` inside it/);
    expect(readdirSync(journalDir!)).toHaveLength(1);
    expect(await rulesThere()).not.toBe(before);
    const inside = await execa(enter[0]!, [...enter.slice(1), 'node', CLI, 'cleanup', '--json'], { reject: false, env, timeout: 60_000 });
    expect(inside.exitCode, inside.stdout + inside.stderr).toBe(0);
    expect(actionsOf(inside.stdout).filter((a) => /conntrack rule|DROP/.test(a.what)).map((a) => a.result)).toEqual(['undone', 'undone']);
    expect(await rulesThere()).toBe(before);
    expect(readdirSync(journalDir!)).toEqual([]);
  }), 120_000);

  describe('--in-place --netns pid:N: the server is that namespace, entered from the root one', () => {
    it("a run: the SYN dropped there by nfscope's rule and seen by its tracer; the rules there as before", () => inHeld(async ({ pid, before, env, rulesThere }) => {
      const r = await execa('node', [CLI, 'trace-syn', '--in-place', '--netns', `pid:${pid}`, '--port', '2574', '--count', '1', '--json'], { reject: false, env, timeout: 90_000 });
      expect(r.exitCode, r.stderr).toBe(0);
      const rep = JSON.parse(r.stdout);
      expect(rep.sandbox).toMatchObject({ server: `pid:${pid}`, inPlace: true });
      expect(rep.ruleCounter?.packets, r.stdout.slice(0, 2000)).toBe(1);
      // The drop tracer filters by the server's netns inode: it saw the SYN die there, at LOCAL_IN.
      expect(rep.drop?.hook, JSON.stringify(rep.drop)?.slice(0, 600)).toBe('LOCAL_IN');
      expect(r.stderr).toContain(`the DROP rule goes in netns pid:${pid}'s own firewall`);
      expect(await rulesThere()).toBe(before);
      expect(readdirSync(journalDir!)).toEqual([]);
    }), 120_000);

    it('SIGKILL once the rules are in, then `nfscope cleanup` from the root netns: undone there, by the namespace file', () => inHeld(async ({ pid, enter, before, env, rulesThere }) => {
      await killedRun([], env, '2575', ['--netns', `pid:${pid}`], enter);
      expect(await rulesThere()).not.toBe(before);
      const c = await execa('node', [CLI, 'cleanup', '--json'], { reject: false, env, timeout: 60_000 });
      expect(c.exitCode, c.stdout + c.stderr).toBe(0);
      expect(actionsOf(c.stdout).filter((a) => /conntrack rule|DROP/.test(a.what)).map((a) => a.result)).toEqual(['undone', 'undone']);
      expect(await rulesThere()).toBe(before);
      expect(readdirSync(journalDir!)).toEqual([]);
    }), 120_000);

    it('refused before anything is made: --netns without --in-place, and a namespace that is not there (exit 2)', async () => {
      const machine = machineState();
      const without = await execa('node', [CLI, 'trace-syn', '--netns', 'pid:1', '--port', '2576'], { reject: false, timeout: 30_000 });
      expect([without.exitCode, without.stderr.trim()]).toEqual([2, "nfscope: --netns needs --in-place: without it the server is a namespace of nfscope's own"]);
      const gone = await execa('node', [CLI, 'trace-syn', '--in-place', '--netns', 'pid:4194304', '--port', '2576'], { reject: false, timeout: 30_000 });
      expect(gone.exitCode, gone.stderr).toBe(2);
      expect(gone.stderr).toMatch(/--netns pid:4194304: not a network namespace nfscope can enter: nsenter: cannot open \/proc\/4194304\/ns\/net: No such file or directory/);
      expect(await leftoversSince(machine)).toEqual([]);
    });
  });
});
