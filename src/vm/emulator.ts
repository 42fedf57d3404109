/**
 * Which qemu boots the micro-VM. Under TCG, a qemu before 8.2.6 / 9.1 runs the guest's vCPUs in
 * turns on one host thread (vm/qemu-argv.ts: its multi-threaded TCG races the guest's code
 * patching), so a lab on two vCPUs runs on one CPU. Debian 12's own qemu is 7.2. Its
 * bookworm-backports suite carries qemu 10, built against Debian 12's libraries: on a Debian 12
 * host nfscope fetches that build into its cache (its own apt state, signatures checked: vm/apt.ts)
 * and boots with it, its vCPUs running at once. The lab on 6.1 took 52.4 s with it against 87.4 s
 * (2026-12-07, README). NFSCOPE_QEMU=system keeps the system's qemu.
 *
 * A failed fetch is not an observation: the VM still boots, with the system's qemu, and the run
 * says why the faster one is not used.
 */
import { lstatSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CapabilityError, CommandFailedError, ParseError } from '../lib/errors.js';
import { untrustedReason } from '../lib/journal.js';
import { requireTool } from '../lib/packages.js';
import { run } from '../lib/run.js';
import type { Host } from '../lib/target.js';
import { parseVersion } from '../parsers/versions.js';
import { AptState } from './apt.js';
import { cacheRoot } from './kernel.js';
import { tcgPatchingSafe } from './qemu-argv.js';

export interface Emulator {
  bin: string;
  version: string;
  /** qemu's -L: its own firmware directory, where it is not the system's. */
  datadir?: string;
  /** A thread per vCPU under TCG does not race the guest's code patching (vm/qemu-argv.ts). */
  patchingSafe: boolean;
  /** Where it comes from, for the progress line: "the system's", "bookworm-backports' (cache …)". */
  origin: string;
}

/** The packages of a qemu that boots the micro-VM: the binary, its firmware (qboot), and the helpers it depends on. */
export const QEMU_PACKAGES = ['qemu-system-x86', 'qemu-system-data', 'qemu-system-common'] as const;
const BACKPORTS = 'bookworm-backports';

/** `qemu-system-x86_64 --version` → its version; a run that failed or printed none throws. */
async function qemuVersion(host: Host, bin: string): Promise<string> {
  const r = await run(host, [bin, '--version'], { timeoutMs: 10_000 });
  const version = parseVersion(r.stdout);
  if (!version) throw new ParseError(`${bin} --version`, 1, r.stdout, 'no version number');
  return version;
}

/** Asked once per process and binary (a fleet or a bench boots many VMs). */
const chosen = new Map<string, Promise<Emulator>>();

/**
 * The qemu to boot with. `accel` kvm: the system's (its vCPUs always run at once). TCG: the
 * system's where it is patching-safe, or NFSCOPE_QEMU=system, or the host is not Debian 12;
 * else bookworm-backports' from the cache, fetched the first time.
 */
export function chooseEmulator(host: Host, accel: 'kvm' | 'tcg', progress: (m: string) => void): Promise<Emulator> {
  const key = `${accel} ${process.env.NFSCOPE_QEMU ?? ''} ${cacheRoot()}`;
  let p = chosen.get(key);
  if (!p) {
    p = choose(host, accel, progress);
    // A failed answer is not kept: the next boot asks again (and fails again, said each time).
    p.catch(() => chosen.delete(key));
    chosen.set(key, p);
  }
  return p;
}

async function choose(host: Host, accel: 'kvm' | 'tcg', progress: (m: string) => void): Promise<Emulator> {
  const bin = await requireTool(host, 'qemu-system-x86_64');
  const version = await qemuVersion(host, bin);
  const system: Emulator = { bin, version, patchingSafe: tcgPatchingSafe(version), origin: "the system's" };
  if (accel === 'kvm' || system.patchingSafe || process.env.NFSCOPE_QEMU === 'system') return system;
  const codename = /^VERSION_CODENAME=(\S+)$/m.exec((await host.readFile('/etc/os-release')) ?? '')?.[1];
  // Only Debian 12 has a build of a patching-safe qemu against its own libraries (its backports).
  if (codename !== 'bookworm') return system;
  try {
    return await backportsQemu(host, progress);
  } catch (e) {
    progress(`warning: ${BACKPORTS}' qemu, which would run the vCPUs at once, is not used: ${(e as Error).message.split('\n')[0]}`);
    return system;
  }
}

/** What a cached emulator directory holds. */
interface CachedEmulator {
  debVersion: string;
  version: string;
}

function emulatorAt(dir: string, c: CachedEmulator): Emulator {
  return {
    bin: join(dir, 'root/usr/bin/qemu-system-x86_64'),
    version: c.version,
    datadir: join(dir, 'root/usr/share/qemu'),
    patchingSafe: tcgPatchingSafe(c.version),
    origin: `${BACKPORTS}' ${c.debVersion} (${dir})`,
  };
}

/** The cached build of `debVersion`, or null; one whose files are not root's own and private is never run. */
async function cached(dir: string, debVersion: string): Promise<Emulator | null> {
  const meta = await readFile(join(dir, 'emulator.json'), 'utf8').catch(() => null); // absent: not fetched yet
  if (meta === null) return null;
  const c = JSON.parse(meta) as CachedEmulator;
  if (c.debVersion !== debVersion) return null;
  const e = emulatorAt(dir, c);
  for (const [path, kind] of [[dir, 'dir'], [join(dir, 'root/usr/bin'), 'dir'], [e.bin, 'file']] as const) {
    const why = untrustedReason(lstatSync(path), path, kind);
    if (why) throw new CapabilityError(`the cached qemu is not used: ${why}`);
  }
  return e;
}

/** One fetch at a time in a process: two VMs booting at once (a fleet) must not both unpack it. */
let fetching: Promise<unknown> = Promise.resolve();

function backportsQemu(host: Host, progress: (m: string) => void): Promise<Emulator> {
  const mine = fetching.then(() => backportsQemuNow(host, progress));
  fetching = Promise.allSettled([mine]);
  return mine;
}

async function backportsQemuNow(host: Host, progress: (m: string) => void): Promise<Emulator> {
  const state = new AptState(host, cacheRoot(), BACKPORTS);
  await state.ensure({ progress });
  const show = await state.exec(['apt-cache', 'show', '--no-all-versions', 'qemu-system-x86'], { timeoutMs: 60_000 });
  if (show.exitCode !== 0) throw new CommandFailedError(['apt-cache', 'show', 'qemu-system-x86'], show.exitCode, show.stderr);
  const debVersion = /^Version: (\S+)$/m.exec(show.stdout)?.[1];
  if (!debVersion) throw new ParseError('apt-cache show qemu-system-x86', 0, show.stdout, `no Version line in ${BACKPORTS}`);
  const root = join(cacheRoot(), 'qemu');
  // An epoch's colon is no file name's business.
  const dir = join(root, debVersion.replace(/[^A-Za-z0-9.+~-]/g, '_'));
  const hit = await cached(dir, debVersion);
  if (hit) return hit;
  progress(`fetching qemu ${debVersion} from ${BACKPORTS} (about 14 MB; its TCG runs the vCPUs at once, the system's qemu runs them in turns)`);
  await mkdir(root, { recursive: true, mode: 0o755 });
  const tmp = await mkdtemp(join(root, '.tmp-'));
  try {
    await mkdir(join(tmp, 'debs'));
    const argv = ['apt-get', 'download', ...QEMU_PACKAGES.map((p) => `${p}=${debVersion}`)];
    const r = await state.exec(argv, { cwd: join(tmp, 'debs'), timeoutMs: 600_000 });
    if (r.exitCode !== 0) throw new CommandFailedError(argv, r.exitCode, r.stderr);
    const debs = (await readdir(join(tmp, 'debs'))).filter((f) => f.endsWith('.deb'));
    if (debs.length !== QEMU_PACKAGES.length) throw new CapabilityError(`${argv.join(' ')} produced ${debs.length} .deb files`);
    for (const deb of debs) await run(host, ['dpkg-deb', '-x', join(tmp, 'debs', deb), join(tmp, 'root')], { timeoutMs: 300_000 });
    await rm(join(tmp, 'debs'), { recursive: true });
    // It runs here (its libraries are Debian 12's), and is what its version says.
    const version = await qemuVersion(host, join(tmp, 'root/usr/bin/qemu-system-x86_64'));
    if (!tcgPatchingSafe(version)) throw new CapabilityError(`${BACKPORTS}' qemu is ${version}: its TCG is no safer than the system's`);
    const meta: CachedEmulator = { debVersion, version };
    await writeFile(join(tmp, 'emulator.json'), JSON.stringify(meta, null, 2) + '\n');
    try {
      await rename(tmp, dir);
    } catch (e) {
      // Another nfscope unpacked the same build meanwhile: theirs is used, if it is whole.
      if (!['ENOTEMPTY', 'EEXIST'].includes((e as NodeJS.ErrnoException).code ?? '')) throw e;
      const theirs = await cached(dir, debVersion);
      if (!theirs) throw new CapabilityError(`${dir} exists and holds no qemu ${debVersion} (remove it)`);
      await rm(tmp, { recursive: true, force: true });
      return theirs;
    }
    return emulatorAt(dir, meta);
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw e;
  }
}
