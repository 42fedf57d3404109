/**
 * The classroom VM's whole cycle, booted for real (issue 16), by
 * scripts/vagrant/cycle.sh: the box nfscope/debian12 built from Debian's
 * packages (cached), `vagrant up` on libvirt under TCG with libvirt kept in a
 * network namespace of its own, the lab inside the VM with every claim
 * confirmed, doctor through --target vagrant, `vagrant destroy`, and nothing
 * left: no domain, network, volume, namespace or daemon, and the root
 * namespace's links, nft ruleset and iptables-save byte-identical (the script
 * fails otherwise; this test reads what it wrote).
 */
import { execa } from 'execa';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectSchema } from '../helpers/schema.js';
import { ROOT, leftoversSince, machineState, type MachineState } from '../helpers/sys.js';

const NS = 'nfscope-vagrant-test';
const out = mkdtempSync(join(tmpdir(), 'nfscope-cycle-'));

let before: MachineState;
/** libvirt daemons running before the test (the classroom VM's, `vagrant up` by its user): not the cycle's. */
let daemonsBefore: string[] = [];
const daemons = async () => (await execa('ps', ['-C', 'libvirtd,virtlogd', '-o', 'pid=,stat=,comm='], { reject: false })).stdout
  .split('\n').map((l) => l.trim().split(/\s+/)).filter((f) => f.length === 3 && !f[1]!.startsWith('Z')).map((f) => `${f[0]} ${f[2]}`);
beforeAll(async () => {
  before = machineState();
  daemonsBefore = await daemons();
});
/** Whether cycle.sh ran: a skipped test stops nothing (another namespace's libvirt is not the test's). */
let ran = false;
afterAll(async () => {
  // Whatever the outcome, nothing of the cycle's may stay.
  if (ran) await execa(join(ROOT, 'scripts/vagrant/vagrant.sh'), ['--stop'], { reject: false, env: { NFSCOPE_VAGRANT_NETNS: NS } });
  rmSync(out, { recursive: true, force: true });
  expect(await leftoversSince(before)).toEqual([]);
  // libvirtd starts the guest's qemu with an environment of its own (no NFSCOPE_TEST_OWNER), which
  // the leftover check takes for another run's: any qemu that was not there before is the cycle's.
  const qemus = machineState().processes.filter((p) => /qemu-system/.test(p.cmd) && !p.zombie && !before.processes.some((b) => b.pid === p.pid));
  expect(qemus.map((p) => `${p.pid} ${p.cmd}`)).toEqual([]);
  // Exited daemons not yet reaped (Z) do not count, nor the ones that ran before.
  expect((await daemons()).filter((d) => !daemonsBefore.includes(d))).toEqual([]);
});

const CLAIMS = ['conntrack-registers-lazily', 'where-conntrack-sits', 'conntrack-saw-the-syn', 'entry-created-and-discarded', 'priority-trick'];

describe('the classroom VM, booted (local box, libvirt, TCG)', () => {
  it('box, up, the lab inside (every claim confirmed), doctor through --target vagrant, destroy: nothing left', async (ctx) => {
    // One libvirtd a machine (scripts/vagrant/vagrant.sh refuses a second: its networks would land in
    // whichever namespace it runs): with the classroom VM already up, the cycle cannot run here.
    const libvirtd = daemonsBefore.filter((d) => d.endsWith(' libvirtd'));
    if (libvirtd.length) {
      const why = `a libvirtd already runs here (pid ${libvirtd.map((d) => d.split(' ')[0]).join(', ')}: the classroom VM's, or another's), and scripts/vagrant/vagrant.sh starts its own only when none does`;
      console.log(`vagrant-cycle: skipped: ${why}`);
      ctx.skip(why);
    }
    ran = true;
    const r = await execa(join(ROOT, 'scripts/vagrant/cycle.sh'), [], {
      reject: false, all: true, timeout: 40 * 60_000,
      env: { NFSCOPE_CYCLE_OUT: out, NFSCOPE_VAGRANT_NETNS: NS },
    });
    expect(r.exitCode, r.all?.slice(-4000)).toBe(0);
    const rep = JSON.parse(readFileSync(join(out, 'lab-inside.json'), 'utf8'));
    expectSchema('lab', rep);
    expect(rep.target).toBe('local');
    // The box's kernel: Debian 12's, as local-box.sh installed it.
    expect(rep.kernel).toMatch(/^6\.1\.0-\d+-amd64$/);
    const status = Object.fromEntries(rep.claims.map((c: { id: string; status: string }) => [c.id, c.status]));
    expect(status).toEqual(Object.fromEntries(CLAIMS.map((id) => [id, 'confirmed'])));
    // From this machine, through the vagrant target: the same kernel, as root, with what the lab needs.
    const doc = JSON.parse(readFileSync(join(out, 'doctor-target.json'), 'utf8'));
    expectSchema('doctor', doc);
    expect(doc.target).toMatch(/^ssh:\/\/vagrant@192\.168\.121\.\d+:22$/);
    expect(doc.kernel).toBe(rep.kernel);
    expect(doc.root).toBe(true);
    const caps = Object.fromEntries(doc.caps.map((c: { id: string; available: boolean }) => [c.id, c.available]));
    expect(caps).toMatchObject({ btf: true, kprobes: true, function_graph: true, conntrack: true });
    // Each step's time, as the script measured it.
    const times = readFileSync(join(out, 'times.txt'), 'utf8');
    mkdirSync(join(ROOT, 'test/artifacts'), { recursive: true });
    copyFileSync(join(out, 'times.txt'), join(ROOT, 'test/artifacts/vagrant-cycle-times.txt'));
    for (const step of ['box', 'vagrant up', 'lab inside the VM', 'doctor --target vagrant', 'vagrant destroy']) expect(times).toContain(step);
    expect(r.all).toMatch(/byte-identical before and after/);
    // The namespace and its libvirt are gone, and no image of nfscope's box is left in libvirt's pool.
    expect((await execa('ip', ['netns', 'list'])).stdout).not.toContain(NS);
    const images = existsSync('/var/lib/libvirt/images') ? readdirSync('/var/lib/libvirt/images') : [];
    expect(images.filter((f) => f.startsWith('nfscope'))).toEqual([]);
  }, 45 * 60_000);
});
