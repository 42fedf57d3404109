/**
 * Issue 30, first part: --netns takes a namespace that has no name, as a container's or an
 * `unshare --net` process's: pid:N, or the namespace file's path. The namespace here is made by
 * `unshare --net sleep` (no /run/netns name), with a DROP rule of its own on loopback; every
 * packet stays inside it, and it goes with its process.
 */
import { execa, type ResultPromise } from 'execa';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, leftoversSince, machineState, nfscope, ROOT, sh } from '../helpers/sys.js';
import { expectSchema } from '../helpers/schema.js';
import { chainsNamed, entriesAt, ipv4HooksOf } from '../helpers/hooks-json.js';

const PORT = 2577;
const tmp = mkdtempSync(join(tmpdir(), 'nfscope-netns-path-'));
let holder: ResultPromise;
let pid = 0;
const inside = (argv: string[]) => sh(['nsenter', `--net=/proc/${pid}/ns/net`, '--', ...argv]);

beforeAll(async () => {
  // unshare without --fork execs sleep in the new namespace: the pid is the namespace's holder.
  holder = execa('unshare', ['--net', '--', 'sleep', '600'], { reject: false });
  pid = holder.pid!;
  for (let i = 0; i < 100 && (await sh(['readlink', `/proc/${pid}/ns/net`])) === (await sh(['readlink', '/proc/self/ns/net'])); i++) {
    await new Promise((r) => setTimeout(r, 20));
  }
  await inside(['ip', 'link', 'set', 'lo', 'up']);
  await inside(['iptables', '-A', 'INPUT', '-p', 'tcp', '--dport', String(PORT), '-j', 'DROP']);
  await inside(['nft', 'add', 'table', 'inet', 'nfst_pid']);
  await inside(['nft', 'add', 'chain', 'inet', 'nfst_pid', 'in_early', '{ type filter hook input priority -5; }']);
});
afterAll(async () => {
  holder.kill('SIGKILL');
  await holder;
  rmSync(tmp, { recursive: true, force: true });
});

describe('--netns pid:N and a namespace file', () => {
  it('hooks: the namespace of an unshare --net process, by pid:N and by its /proc path, the same listing', async () => {
    const rep = await ipv4HooksOf(`pid:${pid}`);
    const localIn = entriesAt(rep, 'LOCAL_IN');
    if (chainsNamed) {
      // The two chains this test put there, and nothing of the root namespace's.
      expect(localIn.chains).toEqual([
        [-5, { family: 'inet', table: 'nfst_pid', chain: 'in_early' }],
        [0, { family: 'ip', table: 'filter', chain: 'INPUT' }],
      ]);
    } else {
      console.log('netns-path: nf_tables chains are not named on this kernel: only the entries are compared');
      expect(localIn.all.length).toBeGreaterThan(0);
    }
    expect((await ipv4HooksOf(`/proc/${pid}/ns/net`)).hooks).toEqual(rep.hooks);
  }, 60_000);

  it('follow: a SYN on its loopback, dropped by its own rule, shown with that rule and nothing left there', async () => {
    const before = machineState();
    const ready = join(tmp, 'ready');
    // The SYN stays in the namespace: netfilter sees it going out (OUTPUT) and coming in (to the drop).
    const p = execa('node', [CLI, 'follow', '--netns', `pid:${pid}`, '--port', String(PORT), '--nftrace', '--count', '2', '--duration', '30', '--ready-file', ready, '--json'], { reject: false, timeout: 90_000 });
    for (const end = Date.now() + 60_000; !existsSync(ready); await new Promise((r) => setTimeout(r, 100))) {
      if (Date.now() > end || p.exitCode !== null) throw new Error(`follow was not ready: ${(await p).stderr}`);
    }
    await execa('nsenter', [`--net=/proc/${pid}/ns/net`, '--', 'python3', join(ROOT, 'payload/net/syn.py'), '127.0.0.1', String(PORT), '1'], { reject: false });
    const r = await p;
    expect(r.exitCode, r.stderr).toBe(0);
    const objs = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    const summary = objs.at(-1);
    expectSchema('follow-summary', summary);
    const packets = objs.slice(0, -1);
    expect(packets).toHaveLength(2);
    for (const x of packets) {
      expectSchema('follow-packet', x);
      expect(x.tuple).toMatchObject({ proto: 'tcp', dst: '127.0.0.1', dport: PORT, tcpFlags: ['syn'] });
    }
    const pkt = packets.find((x) => x.fate.kind === 'dropped');
    const handle = Number((await inside(['nft', '-a', 'list', 'chain', 'ip', 'filter', 'INPUT'])).split('\n').find((l) => l.includes(`dport ${PORT}`))?.match(/# handle (\d+)/)?.[1]);
    expect(pkt.fate).toMatchObject({ kind: 'dropped', hook: 'LOCAL_IN', by: `ip filter INPUT handle ${handle}` });
    // follow's trace table went with the run, from that namespace.
    expect((await inside(['nft', 'list', 'tables'])).split('\n').filter(Boolean).sort()).toEqual(['table inet nfst_pid', 'table ip filter']);
    expect(await leftoversSince(before)).toEqual([]);
  }, 120_000);

  it('a pid with no process, or a file that is no network namespace: exit 2 with nsenter\'s own words', async () => {
    const gone = await nfscope(['hooks', '--netns', 'pid:4194304']);
    expect(gone.exitCode).toBe(2);
    expect(gone.stderr).toMatch(/--netns pid:4194304: not a network namespace nfscope can enter: nsenter: .*\/proc\/4194304\/ns\/net.*No such file or directory/);
    const notNs = await nfscope(['follow', '--netns', '/etc/hostname', '--port', '1', '--count', '1']);
    expect(notNs.exitCode).toBe(2);
    expect(notNs.stderr).toMatch(/--netns \/etc\/hostname: not a network namespace nfscope can enter: nsenter: .*Invalid argument/);
    const bad = await nfscope(['lifetimes', '--netns', 'pid:0', '--all']);
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toMatch(/invalid --netns "pid:0": a pid is 1 to 4194304/);
  }, 60_000);
});
