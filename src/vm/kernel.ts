import { KERNEL_PACKAGE as PKG_RE } from '../lib/validate.js';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { CapabilityError, UsageError } from '../lib/errors.js';
import { run } from '../tools/run.js';
import type { Target } from '../lib/target.js';

/** A distribution kernel unpacked in nfscope's cache, ready to boot. */
export interface KernelInfo {
  package: string;
  version: string;
  dir: string;
  vmlinuz: string;
  /** The package's module tree (with modules.dep), /lib/modules/VERSION in the guest. */
  moddir: string;
  config: string;
}

export const DEFAULT_KERNEL_PACKAGE = 'linux-image-amd64';

export function cacheRoot(): string {
  return process.env.NFSCOPE_CACHE ?? '/var/cache/nfscope';
}


/** Parses `apt-cache show` for the Depends line's package names. */
export function aptDepends(show: string): string[] {
  const m = show.match(/^Depends: (.*)$/m);
  if (!m) return [];
  return m[1]!.split(',').map((d) => d.trim().split(/[\s|(]/)[0]!).filter(Boolean);
}

/**
 * linux-image-amd64 is a metapackage: it depends on exactly one concrete
 * linux-image-VERSION package (and on no tools like kmod, which a real image
 * package needs). Follow such links to the package that holds the kernel.
 */
async function resolvePackage(host: Target, pkg: string): Promise<string> {
  let name = pkg;
  for (let depth = 0; depth < 4; depth++) {
    const r = await host.exec(['apt-cache', 'show', '--no-all-versions', name]);
    // apt-cache show also answers for a pattern: only the package of exactly this name counts.
    const shown = /^Package: (\S+)$/m.exec(r.stdout)?.[1];
    if (r.exitCode !== 0 || shown !== name) {
      throw new UsageError(`unknown kernel package '${name}' (apt-cache show found nothing; try 'apt-cache search linux-image')`);
    }
    const deps = aptDepends(r.stdout);
    const images = deps.filter((d) => d.startsWith('linux-image-'));
    if (images.length === 1 && !deps.includes('kmod')) {
      name = images[0]!;
      continue;
    }
    return name;
  }
  return name;
}

/** Downloads (apt-get download), unpacks (dpkg-deb -x) and indexes (depmod -b) a kernel package, once. */
export async function ensureKernel(host: Target, pkg: string, progress: (m: string) => void = () => {}): Promise<KernelInfo> {
  if (!PKG_RE.test(pkg)) throw new UsageError(`invalid --kernel ${JSON.stringify(pkg.slice(0, 60))}: expected a package name like linux-image-amd64`);
  if (!(await host.which('apt-get')) || !(await host.which('dpkg-deb'))) {
    throw new CapabilityError('the micro-VM needs Debian kernel packages: apt-get and dpkg-deb (a Debian or Ubuntu host)');
  }
  const concrete = await resolvePackage(host, pkg);
  const dir = join(cacheRoot(), 'kernels', concrete);
  const infoFile = join(dir, 'kernel.json');
  if (existsSync(infoFile)) return JSON.parse(await readFile(infoFile, 'utf8')) as KernelInfo;

  progress(`fetching ${concrete} with apt-get download`);
  await mkdir(join(cacheRoot(), 'kernels'), { recursive: true });
  const tmp = await mkdtemp(join(cacheRoot(), 'kernels', '.tmp-'));
  try {
    await run(host, ['apt-get', 'download', concrete], { cwd: tmp, timeoutMs: 600_000, hint: 'run apt-get update first if the package lists are stale' });
    const deb = (await readdir(tmp)).find((f) => f.endsWith('.deb'));
    if (!deb) throw new CapabilityError(`apt-get download ${concrete} produced no .deb`);
    progress(`unpacking ${deb}`);
    await run(host, ['dpkg-deb', '-x', join(tmp, deb), join(tmp, 'root')], { timeoutMs: 300_000 });
    await rm(join(tmp, deb));
    const boot = await readdir(join(tmp, 'root', 'boot'));
    const vmlinuz = boot.find((f) => f.startsWith('vmlinuz-'));
    if (!vmlinuz) throw new CapabilityError(`${concrete} holds no /boot/vmlinuz-*`);
    const version = vmlinuz.slice('vmlinuz-'.length);
    // The package ships no modules.dep (the postinst runs depmod): make one.
    await run(host, ['depmod', '-b', join(tmp, 'root'), version], { timeoutMs: 120_000, hint: 'depmod comes with the kmod package' });
    await rm(dir, { recursive: true, force: true });
    await rename(tmp, dir);
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw e;
  }
  const boot = await readdir(join(dir, 'root', 'boot'));
  const version = boot.find((f) => f.startsWith('vmlinuz-'))!.slice('vmlinuz-'.length);
  const info: KernelInfo = {
    package: concrete,
    version,
    dir,
    vmlinuz: join(dir, 'root', 'boot', `vmlinuz-${version}`),
    moddir: join(dir, 'root', 'lib', 'modules', version),
    config: join(dir, 'root', 'boot', `config-${version}`),
  };
  await writeFile(infoFile, JSON.stringify(info, null, 2));
  return info;
}
