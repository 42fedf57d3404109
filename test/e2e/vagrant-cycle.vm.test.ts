/**
 * The classroom VM's whole cycle, booted for real (issue 16), by
 * scripts/vagrant/cycle.sh: the box nfscope/debian12 built from Debian's
 * packages (cached), `vagrant up` on libvirt under TCG with libvirt kept in a
 * network namespace of its own, the lab inside the VM and through
 * --target vagrant with every claim confirmed, `vagrant destroy`, and nothing
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
beforeAll(() => {
  before = machineState();
});
afterAll(async () => {
  // Whatever the outcome, nothing of the cycle's may stay.
  await execa(join(ROOT, 'scripts/vagrant/vagrant.sh'), ['--stop'], { reject: false, env: { NFSCOPE_VAGRANT_NETNS: NS } });
  rmSync(out, { recursive: true, force: true });
  expect(await leftoversSince(before)).toEqual([]);
  // libvirtd starts the guest's qemu with an environment of its own (no NFSCOPE_TEST_OWNER), which
  // the leftover check takes for another run's: any qemu that was not there before is the cycle's.
  const qemus = machineState().processes.filter((p) => /qemu-system/.test(p.cmd) && !p.zombie && !before.processes.some((b) => b.pid === p.pid));
  expect(qemus.map((p) => `${p.pid} ${p.cmd}`)).toEqual([]);
  // Exited daemons not yet reaped (Z) do not count.
  const daemons = (await execa('ps', ['-C', 'libvirtd,virtlogd', '-o', 'stat=,comm='], { reject: false })).stdout;
  expect(daemons.split('\n').filter((l) => l.trim() && !l.trim().startsWith('Z'))).toEqual([]);
});

const CLAIMS = ['conntrack-registers-lazily', 'where-conntrack-sits', 'conntrack-saw-the-syn', 'entry-created-and-discarded', 'priority-trick'];

describe('the classroom VM, booted (local box, libvirt, TCG)', () => {
  it('box, up, lab inside and through --target vagrant, destroy: every claim confirmed, nothing left', async () => {
    const r = await execa(join(ROOT, 'scripts/vagrant/cycle.sh'), [], {
      reject: false, all: true, timeout: 40 * 60_000,
      env: { NFSCOPE_CYCLE_OUT: out, NFSCOPE_VAGRANT_NETNS: NS },
    });
    expect(r.exitCode, r.all?.slice(-4000)).toBe(0);
    for (const [file, target] of [['lab-inside.json', 'local'], ['lab-target.json', /^ssh:\/\/vagrant@192\.168\.121\.\d+:22$/]] as const) {
      const rep = JSON.parse(readFileSync(join(out, file), 'utf8'));
      expectSchema('lab', rep);
      expect(rep.target).toMatch(target);
      // The box's kernel: Debian 12's, as local-box.sh installed it.
      expect(rep.kernel).toMatch(/^6\.1\.0-\d+-amd64$/);
      const status = Object.fromEntries(rep.claims.map((c: { id: string; status: string }) => [c.id, c.status]));
      expect(status, file).toEqual(Object.fromEntries(CLAIMS.map((id) => [id, 'confirmed'])));
    }
    // Each step's time, as the script measured it.
    const times = readFileSync(join(out, 'times.txt'), 'utf8');
    mkdirSync(join(ROOT, 'test/artifacts'), { recursive: true });
    copyFileSync(join(out, 'times.txt'), join(ROOT, 'test/artifacts/vagrant-cycle-times.txt'));
    for (const step of ['box', 'vagrant up', 'lab inside the VM', 'lab --target vagrant', 'vagrant destroy']) expect(times).toContain(step);
    expect(r.all).toMatch(/byte-identical before and after/);
    // The namespace and its libvirt are gone, and no image of nfscope's box is left in libvirt's pool.
    expect((await execa('ip', ['netns', 'list'])).stdout).not.toContain(NS);
    const images = existsSync('/var/lib/libvirt/images') ? readdirSync('/var/lib/libvirt/images') : [];
    expect(images.filter((f) => f.startsWith('nfscope'))).toEqual([]);
  }, 45 * 60_000);
});
