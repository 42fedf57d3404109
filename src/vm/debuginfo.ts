import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { CapabilityError, CommandFailedError } from '../lib/errors.js';
import { AptState } from './apt.js';
import { run } from '../lib/run.js';
import type { Target } from '../lib/target.js';
import { cacheRoot } from './kernel.js';
import type { KernelInfo } from '../model/vm.js';

/**
 * Kernel DWARF for drgn in the micro-VM: Debian's linux-image-VERSION-dbg
 * (860 MB for 6.1, 5.6 GB unpacked). Only vmlinux and the netfilter modules
 * are kept, under <kernel cache>/dbg/usr/lib/debug, which the VM's init binds
 * at /usr/lib/debug, where drgn looks.
 */
export function debuginfoDir(k: KernelInfo): string {
  return join(k.dir, 'dbg');
}

export function debuginfoCached(k: KernelInfo): boolean {
  return existsSync(join(debuginfoDir(k), 'usr/lib/debug/boot', `vmlinux-${k.version}`));
}

/** The members to keep: tar --wildcards patterns. */
export function debuginfoMembers(version: string): string[] {
  return [
    `./usr/lib/debug/boot/vmlinux-${version}`,
    ...['net/netfilter', 'net/ipv4/netfilter', 'net/ipv6/netfilter', 'net/bridge/netfilter'].map(
      (d) => `./usr/lib/debug/lib/modules/${version}/kernel/${d}/*`,
    ),
  ];
}

export async function ensureDebuginfo(host: Target, k: KernelInfo, progress: (m: string) => void = () => {}): Promise<string> {
  const dir = debuginfoDir(k);
  if (debuginfoCached(k)) return dir;
  const pkg = `${k.package}-dbg`;
  const tmp = await mkdtemp(join(k.dir, '.dbg-'));
  try {
    progress(`fetching ${pkg} (about 1 GB) with apt-get download`);
    // From where the kernel itself came: nfscope's apt state of its suite, or the system's apt.
    const suite = k.suite && k.suite !== 'system' ? new AptState(host, cacheRoot(), k.suite) : null;
    await suite?.ensure({ progress });
    const argv = ['apt-get', 'download', pkg];
    const r = suite ? await suite.exec(argv, { cwd: tmp, timeoutMs: 1_800_000 }) : await host.exec(argv, { cwd: tmp, timeoutMs: 1_800_000 });
    if (r.exitCode !== 0) throw new CommandFailedError(argv, r.exitCode, r.stderr, `no ${pkg}: are the package lists current? (apt-get update, or nfscope vm kernels --refresh)`);
    const deb = (await readdir(tmp)).find((f) => f.endsWith('.deb'));
    if (!deb) throw new CapabilityError(`apt-get download ${pkg} produced no .deb`);
    await run(host, ['ar', 'x', deb], { cwd: tmp, timeoutMs: 300_000, hint: 'ar comes with binutils' });
    await rm(join(tmp, deb));
    const data = (await readdir(tmp)).find((f) => f.startsWith('data.tar'));
    if (!data) throw new CapabilityError(`${pkg} has no data.tar member`);
    progress(`extracting vmlinux and the netfilter modules' debug info from ${pkg}`);
    await mkdir(join(tmp, 'out'));
    await run(host, ['tar', '-x', '-f', data, '-C', join(tmp, 'out'), '--wildcards', ...debuginfoMembers(k.version)], { cwd: tmp, timeoutMs: 1_800_000 });
    await rm(dir, { recursive: true, force: true });
    await rename(join(tmp, 'out'), dir);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  if (!debuginfoCached(k)) throw new CapabilityError(`${pkg} held no vmlinux-${k.version}`);
  return dir;
}
