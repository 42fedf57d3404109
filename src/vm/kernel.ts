import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, readdir, rm, writeFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { CapabilityError, UsageError } from '../lib/errors.js';
import { parseKernelSpec, SUITES, type Suite } from '../lib/kernel-spec.js';
import { run } from '../lib/run.js';
import type { ExecOptions, RawRun, Target } from '../lib/target.js';
import { AptState, downloadAndUnpack, oneAtATime } from './apt.js';
import type { KernelInfo } from '../model/vm.js';

export function cacheRoot(): string {
  return process.env.NFSCOPE_CACHE ?? '/var/cache/nfscope';
}


/** Parses `apt-cache show` for the Depends line's package names. */
export function aptDepends(show: string): string[] {
  const m = show.match(/^Depends: (.*)$/m);
  if (!m) return [];
  return m[1]!.split(',').map((d) => d.trim().split(/[\s|(]/)[0]!).filter(Boolean);
}

/** A kernel package resolved to what holds the kernel. */
export interface ResolvedKernel {
  /** The linux-image-VERSION package (the cache is keyed by it). */
  package: string;
  /** The .debs to fetch and unpack together: the image itself, or its split parts. */
  parts: string[];
  /** The Debian package version, e.g. 6.12.117-1. */
  debVersion: string;
}

/** `apt-cache show --no-all-versions NAME`, or null when apt knows no package of exactly that name. */
export type AptShow = (name: string) => Promise<string | null>;

/**
 * Follows a kernel package name to the packages that hold the kernel.
 * - linux-image-amd64 is a metapackage: it depends on exactly one concrete
 *   linux-image-VERSION (and on no tool like kmod, which a real image needs).
 * - Since Debian's 7.x kernels (sid, 2026) linux-image-VERSION is itself empty:
 *   it depends on linux-binary-VERSION (vmlinuz), linux-modules-VERSION and
 *   linux-base-VERSION (config, System.map), all fetched together.
 */
export async function resolveKernelPackage(show: AptShow, pkg: string): Promise<ResolvedKernel> {
  let name = pkg;
  for (let depth = 0; depth < 4; depth++) {
    const stanza = await show(name);
    if (stanza === null) throw new UsageError(`unknown kernel package '${name}' (apt-cache show found nothing; try 'nfscope vm kernels' or 'apt-cache search linux-image')`);
    const debVersion = /^Version: (\S+)$/m.exec(stanza)?.[1] ?? '';
    const deps = aptDepends(stanza);
    const release = name.slice('linux-image-'.length);
    const split = ['binary', 'modules', 'base'].map((k) => `linux-${k}-${release}`).filter((p) => deps.includes(p));
    if (split.includes(`linux-binary-${release}`)) return { package: name, parts: split, debVersion };
    const images = deps.filter((d) => d.startsWith('linux-image-'));
    if (images.length === 1 && !deps.includes('kmod')) {
      name = images[0]!;
      continue;
    }
    return { package: name, parts: [name], debVersion };
  }
  throw new UsageError(`kernel package '${pkg}' leads through more than 4 metapackages`);
}

function aptShow(exec: (argv: string[]) => Promise<RawRun>): AptShow {
  return async (name) => {
    const r = await exec(['apt-cache', 'show', '--no-all-versions', name]);
    // apt-cache show also answers for a pattern: only the package of exactly this name counts.
    const shown = /^Package: (\S+)$/m.exec(r.stdout)?.[1];
    return r.exitCode === 0 && shown === name ? r.stdout : null;
  };
}

function kernelDir(pkg: string): string {
  return join(cacheRoot(), 'kernels', pkg);
}

/** The kernel cached under its linux-image-VERSION name, or null. */
export async function cachedKernel(pkg: string): Promise<KernelInfo | null> {
  const text = await readFile(join(kernelDir(pkg), 'kernel.json'), 'utf8').catch(() => null);
  return text ? (JSON.parse(text) as KernelInfo) : null;
}

/** Where a kernel spec resolves, without fetching the kernel. */
export interface KernelResolution extends ResolvedKernel {
  spec: string;
  suite: Suite | 'system';
  /** apt-get with the options of the apt state that resolved it. */
  exec: (argv: string[], opts?: ExecOptions) => Promise<RawRun>;
}

/**
 * Resolves `--kernel` (an alias, SUITE/PACKAGE or a package): aliases and
 * suites through nfscope's own apt state of that suite; a bare package through
 * the system's apt first (Debian 12 hosts have 6.1 there), then each suite.
 */
export async function resolveKernel(host: Target, text: string, o: { refresh?: boolean; progress?: (m: string) => void } = {}): Promise<KernelResolution> {
  const spec = parseKernelSpec(text);
  if (!(await host.which('apt-get')) || !(await host.which('dpkg-deb'))) {
    throw new CapabilityError('the micro-VM needs Debian kernel packages: apt-get and dpkg-deb (a Debian or Ubuntu host)');
  }
  const inSuite = async (suite: Suite): Promise<KernelResolution> => {
    const state = new AptState(host, cacheRoot(), suite);
    await state.ensure(o);
    const exec = (argv: string[], opts?: ExecOptions) => state.exec(argv, opts);
    return { spec: text, suite, exec, ...(await resolveKernelPackage(aptShow(exec), spec.package)) };
  };
  if (spec.kind !== 'package') return inSuite(spec.suite);
  const system = (argv: string[], opts?: ExecOptions) => host.exec(argv, opts);
  try {
    return { spec: text, suite: 'system', exec: system, ...(await resolveKernelPackage(aptShow(system), spec.package)) };
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
  }
  for (const suite of [...SUITES].reverse()) {
    try {
      return await inSuite(suite);
    } catch (e) {
      if (!(e instanceof UsageError)) throw e;
    }
  }
  throw new UsageError(`unknown kernel package '${spec.package}': not in the system's apt nor in ${SUITES.join(', ')} (try 'nfscope vm kernels')`);
}

/**
 * Puts an unpacked kernel in the classic layout the VM boots from, and returns
 * its release: /boot/vmlinuz-REL, /boot/config-REL, /lib/modules/REL.
 * - Debian up to 6.12: already so (linux-image-REL); trixie's later 6.12 builds keep
 *   /boot but put the modules under /usr/lib/modules/REL.
 * - Debian 7.x (sid, 2026; merged /usr): linux-binary-REL ships
 *   /usr/lib/modules/REL/vmlinuz, linux-base-REL /usr/lib/modules/REL/config,
 *   and nothing is under /boot.
 */
export async function normaliseLayout(root: string): Promise<string | null> {
  const boot = join(root, 'boot');
  const usrMods = join(root, 'usr', 'lib', 'modules');
  const classic = (await readdir(boot).catch(() => [] as string[])).find((f) => f.startsWith('vmlinuz-'));
  if (classic) {
    const release = classic.slice('vmlinuz-'.length);
    // trixie's 6.12.117-1 rebuild (seen 2026-11-30): /boot/vmlinuz-REL as before, but the modules
    // under /usr/lib/modules/REL (merged /usr) and nothing under /lib/modules: move them where the VM
    // and depmod -b look.
    const mods = join(root, 'lib', 'modules', release);
    if (!existsSync(mods) && existsSync(join(usrMods, release))) {
      await mkdir(join(root, 'lib', 'modules'), { recursive: true });
      await rename(join(usrMods, release), mods);
    }
    return release;
  }
  const release = (await readdir(usrMods).catch(() => [] as string[])).find((r) => existsSync(join(usrMods, r, 'vmlinuz')));
  if (!release) return null;
  const mods = join(root, 'lib', 'modules', release);
  await mkdir(join(root, 'lib', 'modules'), { recursive: true });
  await rename(join(usrMods, release), mods);
  await mkdir(boot, { recursive: true });
  await rename(join(mods, 'vmlinuz'), join(boot, `vmlinuz-${release}`));
  if (existsSync(join(mods, 'config'))) await copyFile(join(mods, 'config'), join(boot, `config-${release}`));
  return release;
}

const queue = oneAtATime();

/** Downloads (apt-get download), unpacks (dpkg-deb -x) and indexes (depmod -b) a kernel, once. */
export function ensureKernel(host: Target, text: string, progress: (m: string) => void = () => {}, o: { refresh?: boolean } = {}): Promise<KernelInfo> {
  return queue(() => ensureKernelNow(host, text, progress, o));
}

async function ensureKernelNow(host: Target, text: string, progress: (m: string) => void, o: { refresh?: boolean }): Promise<KernelInfo> {
  const spec = parseKernelSpec(text);
  // A package named exactly is used from the cache without asking apt (offline runs).
  if (spec.kind === 'package') {
    const hit = await cachedKernel(spec.package);
    if (hit) return hit;
  }
  const res = await resolveKernel(host, text, { ...o, progress });
  const hit = await cachedKernel(res.package);
  if (hit) return hit;

  const dir = kernelDir(res.package);
  progress(`fetching ${res.parts.join(', ')} (${res.debVersion}${res.suite === 'system' ? '' : `, ${res.suite}`}) with apt-get download`);
  await mkdir(join(cacheRoot(), 'kernels'), { recursive: true });
  const tmp = await mkdtemp(join(cacheRoot(), 'kernels', '.tmp-'));
  try {
    await downloadAndUnpack(host, res.exec, res.parts, tmp, { hint: 'is the network reachable? (nfscope vm kernels --refresh fetches the lists anew)', progress });
    const version = await normaliseLayout(join(tmp, 'root'));
    if (!version) throw new CapabilityError(`${res.parts.join(', ')} hold no /boot/vmlinuz-* nor /usr/lib/modules/*/vmlinuz`);
    // The package ships no modules.dep (the postinst runs depmod): make one.
    await run(host, ['depmod', '-b', join(tmp, 'root'), version], { timeoutMs: 120_000, hint: 'depmod comes with the kmod package' });
    const info: KernelInfo = {
      package: res.package,
      version,
      debVersion: res.debVersion,
      suite: res.suite,
      parts: res.parts,
      dir,
      vmlinuz: join(dir, 'root', 'boot', `vmlinuz-${version}`),
      moddir: join(dir, 'root', 'lib', 'modules', version),
      config: join(dir, 'root', 'boot', `config-${version}`),
    };
    await writeFile(join(tmp, 'kernel.json'), JSON.stringify(info, null, 2));
    await rm(dir, { recursive: true, force: true });
    await rename(tmp, dir);
    return info;
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw e;
  }
}
