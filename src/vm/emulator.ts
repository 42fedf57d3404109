/**
 * Which qemu boots the micro-VM. Under TCG, a qemu before 8.2.6 / 9.1 runs the guest's vCPUs in
 * turns on one host thread (vm/qemu-argv.ts: its multi-threaded TCG races the guest's code
 * patching), so a lab on two vCPUs runs on one CPU. Debian 12's own qemu is 7.2. Its
 * bookworm-backports suite carries qemu 10, built against Debian 12's libraries: on a Debian 12
 * host nfscope fetches that build into its cache (its own apt state, signatures checked: vm/apt.ts)
 * and boots with it, its vCPUs running at once. The lab on 6.1 took 54.1 s with it against 87.4 s
 * (2026-12-07, README: Benchmarks). NFSCOPE_QEMU=system keeps the system's qemu.
 *
 * A failed fetch is not an observation: the VM still boots, with a build cached before or the
 * system's qemu, and every boot says why the newest is not used.
 */
import { closeSync, constants, existsSync, fstatSync, lstatSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { CapabilityError, CommandFailedError, ParseError, UsageError } from '../lib/errors.js';
import { untrustedReason } from '../lib/journal.js';
import { requireTool } from '../lib/packages.js';
import { run } from '../lib/run.js';
import type { Host } from '../lib/target.js';
import { compareVersions, parseVersion } from '../parsers/versions.js';
import { AptState, downloadAndUnpack, oneAtATime } from './apt.js';
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
  /** Why a faster qemu is not used (said at every boot, not only the first of a process). */
  warning?: string;
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

/** Asked once per process (a fleet or a bench boots many VMs), per accelerator, choice and cache. */
const chosen = new Map<string, Promise<Emulator>>();

/**
 * The qemu to boot with. `accel` kvm: the system's (its vCPUs always run at once). TCG: the
 * system's where it is patching-safe, or NFSCOPE_QEMU=system, or the host is not Debian 12;
 * else bookworm-backports' from the cache, fetched the first time.
 */
export function chooseEmulator(host: Host, accel: 'kvm' | 'tcg', progress: (m: string) => void): Promise<Emulator> {
  // Empty is unset, as a shell's `NFSCOPE_QEMU= nfscope …` means it.
  const choice = process.env.NFSCOPE_QEMU || undefined;
  if (choice !== undefined && choice !== 'system') return Promise.reject(new UsageError(`NFSCOPE_QEMU=${JSON.stringify(choice).slice(1, -1)}: it takes 'system' (the system's qemu) only`));
  const key = `${accel} ${choice ?? ''} ${cacheRoot()}`;
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
    return { ...system, warning: `${BACKPORTS}' qemu, which would run the vCPUs at once, is not used: ${(e as Error).message.split('\n')[0]}` };
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

/**
 * Why the cache's directories may not hold a qemu root runs, or null: the cache root and its qemu
 * folder root's own and written by no one else, and a build's directory private (mkdtemp's 0700):
 * then nothing under it, binary, firmware or modules, can be changed by another user.
 */
function untrustedCache(dir: string | null): string | null {
  const root = join(cacheRoot(), 'qemu');
  // Every directory above the cache too: whoever may rename one could swap the build under it
  // between this check and the boot. Root's sticky ones (/tmp) only let each owner rename their own.
  for (let d = dirname(resolve(cacheRoot())); ; d = dirname(d)) {
    const st = lstatSync(d);
    const open = (st.mode & 0o022) !== 0 && (st.mode & 0o1000) === 0;
    if (!st.isDirectory() || st.uid !== 0 || open) return `${d}, above the cache, is ${!st.isDirectory() ? 'not a directory' : st.uid !== 0 ? `uid ${st.uid}'s` : `writable by others (mode ${(st.mode & 0o7777).toString(8)})`}`;
    if (d === '/') break;
  }
  for (const d of [cacheRoot(), root]) {
    const why = untrustedReason(lstatSync(d), d, 'dir');
    if (why) return why;
  }
  if (dir === null) return null;
  const st = lstatSync(dir);
  const why = untrustedReason(st, dir, 'dir');
  if (why) return why;
  return (st.mode & 0o077) !== 0 ? `${dir} is open to other users (mode ${(st.mode & 0o777).toString(8)})` : null;
}

/** emulator.json of a build's directory: at most 4 kB, a regular file of root's, never through a link; null when absent. */
function readMeta(dir: string): CachedEmulator | null {
  let fd: number;
  try {
    fd = openSync(join(dir, 'emulator.json'), constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (e) {
    // Absent: not fetched (or not finished) yet. Anything else is the cache's failure, said.
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  try {
    const st = fstatSync(fd);
    const why = untrustedReason(st, join(dir, 'emulator.json'), 'file');
    if (why) throw new CapabilityError(why);
    if (st.size > 4096) throw new CapabilityError(`${join(dir, 'emulator.json')} is ${st.size} bytes, not the few nfscope writes`);
    const o = JSON.parse(readFileSync(fd, 'utf8')) as Partial<CachedEmulator>;
    if (typeof o.debVersion !== 'string' || typeof o.version !== 'string' || !/^\d+\.\d+(\.\d+)?$/.test(o.version)) throw new CapabilityError(`${join(dir, 'emulator.json')} is not nfscope's`);
    return { debVersion: o.debVersion, version: o.version };
  } finally {
    closeSync(fd);
  }
}

/** The cached build of `debVersion` (any build when null: the newest), or null; one in a directory others could change is never run. */
function cached(dir: string, debVersion: string): Emulator | null {
  if (!existsSync(dir)) return null;
  const why = untrustedCache(dir);
  if (why) throw new CapabilityError(`the cached qemu is not used: ${why}`);
  const c = readMeta(dir);
  if (c === null || c.debVersion !== debVersion) return null;
  return emulatorAt(dir, c);
}

/** The newest build in the cache that is whole and trusted, for a run that cannot ask apt. */
function newestCached(): Emulator | null {
  const root = join(cacheRoot(), 'qemu');
  if (!existsSync(root)) return null;
  const found = readdirSync(root).filter((n) => !n.startsWith('.')).flatMap((n) => {
    const dir = join(root, n);
    try {
      const c = untrustedCache(dir) === null ? readMeta(dir) : null;
      return c && dirName(c.debVersion) === n && tcgPatchingSafe(c.version) ? [emulatorAt(dir, c)] : [];
    } catch {
      // A build that cannot be read is not one to fall back on; the others still are.
      return [];
    }
  });
  return found.sort((a, b) => compareVersions(b.version, a.version))[0] ?? null;
}

/** A build's directory name: an epoch's colon is no file name's business. */
function dirName(debVersion: string): string {
  return debVersion.replace(/[^A-Za-z0-9.+~-]/g, '_');
}

/** The version bookworm-backports has now (its lists refreshed when a day old). */
async function candidate(host: Host, progress: (m: string) => void): Promise<string> {
  const state = new AptState(host, cacheRoot(), BACKPORTS);
  await state.ensure({ progress });
  const show = await state.exec(['apt-cache', 'show', '--no-all-versions', 'qemu-system-x86'], { timeoutMs: 60_000 });
  if (show.exitCode !== 0) throw new CommandFailedError(['apt-cache', 'show', 'qemu-system-x86'], show.exitCode, show.stderr);
  const debVersion = /^Version: (\S+)$/m.exec(show.stdout)?.[1];
  if (!debVersion) throw new ParseError('apt-cache show qemu-system-x86', 0, show.stdout, `no Version line in ${BACKPORTS}`);
  return debVersion;
}

const queue = oneAtATime();

function backportsQemu(host: Host, progress: (m: string) => void): Promise<Emulator> {
  return queue(() => backportsQemuNow(host, progress));
}

async function backportsQemuNow(host: Host, progress: (m: string) => void): Promise<Emulator> {
  let debVersion: string;
  try {
    debVersion = await candidate(host, progress);
  } catch (e) {
    // Offline, or the lists unreadable: a build fetched before still serves, said on the boot line.
    const old = newestCached();
    if (!old) throw e;
    return { ...old, warning: `${BACKPORTS}' lists could not be read (${(e as Error).message.split('\n')[0]}): the qemu cached before is used` };
  }
  const root = join(cacheRoot(), 'qemu');
  const dir = join(root, dirName(debVersion));
  const hit = cached(dir, debVersion);
  if (hit) return hit;
  try {
    return await fetchBuild(host, debVersion, dir, progress);
  } catch (e) {
    const old = newestCached();
    if (!old) throw e;
    return { ...old, warning: `qemu ${debVersion} could not be fetched from ${BACKPORTS} (${(e as Error).message.split('\n')[0]}): the qemu cached before is used` };
  }
}

/** Downloads, unpacks and checks one build into `dir` (temp and rename). */
async function fetchBuild(host: Host, debVersion: string, dir: string, progress: (m: string) => void): Promise<Emulator> {
  const root = join(cacheRoot(), 'qemu');
  const state = new AptState(host, cacheRoot(), BACKPORTS);
  progress(`fetching qemu ${debVersion} from ${BACKPORTS} (about 14 MB; its TCG runs the vCPUs at once, the system's qemu runs them in turns)`);
  await mkdir(root, { recursive: true, mode: 0o755 });
  const why = untrustedCache(null);
  if (why) throw new CapabilityError(`no qemu is fetched into a cache others could change: ${why}`);
  const tmp = await mkdtemp(join(root, '.tmp-'));
  try {
    await downloadAndUnpack(host, (a, o) => state.exec(a, o), QEMU_PACKAGES.map((p) => `${p}=${debVersion}`), tmp);
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
      const theirs = cached(dir, debVersion);
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
