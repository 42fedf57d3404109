/**
 * Issue 30: --netns podman:NAME, for real. The image is built here from busybox-static (no
 * registry is reachable), the container runs with --network none: its own namespace with only a
 * loopback, so nothing of the root namespace's firewall or links changes. Where podman cannot
 * start a container (this machine's sandbox), only the answers that need none are shown. A DROP rule of its
 * own on that loopback; nfscope lists its hooks and follows a SYN to the drop, by the container's
 * name. The container and the image go when the file ends.
 */
import { execa, type ResultPromise } from 'execa';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, leftoversSince, machineState, nfscope, ROOT, sh } from '../helpers/sys.js';
import { chainsNamed, entriesAt, ipv4HooksOf } from '../helpers/hooks-json.js';

const PORT = 2578;
const podman = ['/usr/bin/podman', '/usr/local/bin/podman'].find((p) => existsSync(p)) ?? null;
const busybox = ['/bin/busybox', '/usr/bin/busybox'].find((p) => existsSync(p)) ?? null;
const why = process.getuid?.() !== 0 ? 'not root' : !podman ? 'podman is not installed (scripts/setup.sh installs it)' : !busybox ? 'no busybox to build the image from' : null;
if (why) console.log(`container-netns: skipped: ${why}`);

const tag = `nfst-${process.pid}`;
const image = `localhost/nfscope-test:${tag}`;
const tmp = mkdtempSync(join(tmpdir(), 'nfscope-podman-'));
let pid = '';
let cannotRun: string | null = null;
let notRunning: Awaited<ReturnType<typeof nfscope>>;
const needsRunning = (ctx: { skip: () => void }) => {
  if (cannotRun) {
    console.log(`container-netns: skipped: ${cannotRun}`);
    ctx.skip();
  }
};
const inside = (argv: string[]) => sh(['nsenter', `--net=/proc/${pid}/ns/net`, '--', ...argv]);

beforeAll(async () => {
  if (why) return;
  // A root file system of busybox alone, imported as an image.
  const root = join(tmp, 'root');
  mkdirSync(join(root, 'bin'), { recursive: true });
  copyFileSync(busybox!, join(root, 'bin', 'busybox'));
  symlinkSync('busybox', join(root, 'bin', 'sleep'));
  await sh(['tar', '-C', root, '-cf', join(tmp, 'root.tar'), '.']);
  await sh([podman!, 'import', join(tmp, 'root.tar'), image]);
  await sh([podman!, 'create', '--name', tag, '--network', 'none', image, '/bin/sleep', '600']);
  // Created, not started: what nfscope says of a container that is not running, asked first.
  notRunning = await nfscope(['hooks', '--netns', `podman:${tag}`]);
  // Some machines let podman create a container but not start it (this one's sandbox refuses
  // crun's setrlimit: "crun: setrlimit `RLIMIT_NOFILE`: Operation not permitted"): then the tests
  // that need it running say so and skip.
  const started = await execa(podman!, ['start', tag], { reject: false });
  if (started.exitCode !== 0) {
    cannotRun = `podman cannot start a container here: ${String(started.stderr).trim().split('\n').pop()}`;
    return;
  }
  pid = (await sh([podman!, 'container', 'inspect', '--format', '{{.State.Pid}}', tag])).trim();
  await inside(['ip', 'link', 'set', 'lo', 'up']);
  await inside(['iptables', '-A', 'INPUT', '-p', 'tcp', '--dport', String(PORT), '-j', 'DROP']);
}, 120_000);
afterAll(async () => {
  if (!why) {
    await execa(podman!, ['rm', '-f', '-t', '0', tag], { reject: false });
    await execa(podman!, ['rmi', '-f', image], { reject: false });
  }
  rmSync(tmp, { recursive: true, force: true });
}, 60_000);

describe.skipIf(why !== null)('--netns podman:NAME', () => {
  it('a container podman knows but that is not running: exit 2, said so', () => {
    expect(notRunning.exitCode).toBe(2);
    expect(notRunning.stderr).toContain(`--netns podman:${tag}: the container is not running (its runtime gives pid 0)`);
  });

  it('hooks: the container\'s namespace, named as the user named it, with its own rule\'s chain', async (ctx) => {
    needsRunning(ctx);
    const rep = await ipv4HooksOf(`podman:${tag}`);
    const localIn = entriesAt(rep, 'LOCAL_IN');
    if (chainsNamed) {
      expect(localIn.chains.map(([, chain]) => chain)).toEqual([{ family: 'ip', table: 'filter', chain: 'INPUT' }]);
    } else {
      console.log('container-netns: nf_tables chains are not named on this kernel: the entries only');
      expect(localIn.all.length).toBeGreaterThan(0);
    }
    // The same namespace by the pid podman gives: the same listing.
    expect((await ipv4HooksOf(`pid:${pid}`)).hooks).toEqual(rep.hooks);
  }, 60_000);

  it('follow: a SYN on the container\'s loopback, dropped by its rule', async (ctx) => {
    needsRunning(ctx);
    const before = machineState();
    const ready = join(tmp, 'ready');
    const p: ResultPromise = execa('node', [CLI, 'follow', '--netns', `podman:${tag}`, '--port', String(PORT), '--count', '1', '--duration', '30', '--ready-file', ready, '--json'], { reject: false, timeout: 90_000 });
    for (const end = Date.now() + 60_000; !existsSync(ready); await new Promise((res) => setTimeout(res, 100))) {
      if (Date.now() > end || p.exitCode !== null) throw new Error(`follow was not ready: ${(await p).stderr}`);
    }
    await execa('nsenter', [`--net=/proc/${pid}/ns/net`, '--', 'python3', join(ROOT, 'payload/net/syn.py'), '127.0.0.1', String(PORT), '1'], { reject: false });
    const r = await p;
    expect(r.exitCode, String(r.stderr)).toBe(0);
    const objs = String(r.stdout).trim().split('\n').map((l) => JSON.parse(l));
    expect(objs[0].tuple).toMatchObject({ proto: 'tcp', dst: '127.0.0.1', dport: PORT, tcpFlags: ['syn'] });
    expect(objs[0].fate).toMatchObject({ kind: 'dropped', hook: 'LOCAL_IN' });
    expect(await leftoversSince(before)).toEqual([]);
  }, 120_000);

  it('a container podman does not know: exit 2 with podman\'s words', async () => {
    const r = await nfscope(['hooks', '--netns', `podman:${tag}-none`]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`--netns podman:${tag}-none: podman does not give its process: .*no such container`, 'i'));
  }, 60_000);
});

/**
 * --netns cri:ID asks crictl (cri-tools) for the container's first process. No CRI runtime runs
 * here, and Debian 12 ships no cri-tools: what a user without it meets is checked, for real.
 */
describe('--netns cri:ID', () => {
  const crictl = spawnSync('sh', ['-c', 'command -v crictl'], { encoding: 'utf8' }).stdout.trim();
  it.skipIf(crictl !== '')(`without crictl: exit 3, naming the package${crictl ? ` (skipped: crictl is at ${crictl})` : ''}`, async () => {
    const r = await nfscope(['hooks', '--netns', 'cri:3a1b2c4d5e6f']);
    expect(r.exitCode, r.stderr).toBe(3);
    expect(r.stderr).toContain("crictl is not installed: install it with 'apt-get install cri-tools'");
  }, 60_000);
  it('a malformed id: exit 2 before anything runs', async () => {
    const r = await nfscope(['hooks', '--netns', 'cri:a;b']);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/invalid --netns "cri:a;b": a container's name or id/);
  }, 60_000);
});
