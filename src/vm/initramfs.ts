import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rename, rm, writeFile, copyFile } from 'node:fs/promises';
import { join, basename } from 'node:path';
import { CapabilityError } from '../lib/errors.js';
import { loadOrder, parseModulesDep } from '../parsers/modules-dep.js';
import { run } from '../lib/run.js';
import type { Target } from '../lib/target.js';
import { PACKAGE_ROOT } from '../lib/paths.js';
import { cpioNewc, type CpioEntry } from './cpio.js';
import type { KernelInfo } from '../model/vm.js';

/** What stage 1 needs to reach the host's root: virtio PCI, 9p over virtio, overlayfs. */
const WANTED = ['virtio_pci', '9pnet_virtio', '9p', 'overlay'];

/**
 * Builds (once per kernel and init script) an initramfs of busybox-static,
 * payload/vm/init and the modules above in dependency order, derived from the
 * package's modules.dep: 6.1 has virtio_pci as a module, 6.12 builds it in and
 * ships .ko.xz, which busybox insmod cannot read, so they are decompressed.
 */
export async function ensureInitramfs(host: Target, k: KernelInfo): Promise<string> {
  const init = await readFile(join(PACKAGE_ROOT, 'payload/vm/init'));
  const dep = parseModulesDep(await readFile(join(k.moddir, 'modules.dep'), 'utf8'));
  const { order, notModules } = loadOrder(dep, WANTED);
  const builtin = (await readFile(join(k.moddir, 'modules.builtin'), 'utf8').catch(() => ''))
    .split('\n').map((l) => basename(l).replace(/\.ko$/, '').replace(/-/g, '_'));
  const missing = notModules.filter((m) => !builtin.includes(m));
  if (missing.length) throw new CapabilityError(`kernel ${k.version} has neither module nor built-in ${missing.join(', ')}: it cannot mount the host's root over 9p`);

  // The module tree's host path is in the archive (/moddir): it may hold spaces, which the kernel command line cannot.
  const hash = createHash('sha256').update(init).update(order.join('\n')).update(k.moddir).digest('hex').slice(0, 12);
  const out = join(k.dir, `initramfs-${hash}.cpio`);
  if (existsSync(out)) return out;
  // Archives of older init scripts are of no further use.
  for (const f of await readdir(k.dir)) if (/^initramfs-[0-9a-f]+\.cpio$/.test(f)) await rm(join(k.dir, f), { force: true });

  const busybox = await host.which('busybox');
  if (!busybox) throw new CapabilityError('busybox is missing: apt-get install busybox-static');
  // A busybox found but unreadable fails with its own error (path and errno), not as a missing one.
  const file = await readFile(busybox);
  const entries: CpioEntry[] = [
    ...['bin', 'dev', 'proc', 'sys', 'modules', 'newroot', 'lower', 'rw'].map((d) => ({ name: d, mode: 0o040755 })),
    { name: 'bin/busybox', mode: 0o100755, data: file },
    { name: 'init', mode: 0o100755, data: init },
    { name: 'moddir', mode: 0o100644, data: Buffer.from(k.moddir) },
  ];
  const tmp = await mkdtemp(join(k.dir, '.unxz-'));
  try {
    const names: string[] = [];
    for (const rel of order) {
      let src = join(k.moddir, rel);
      if (rel.endsWith('.xz')) {
        const copy = join(tmp, basename(rel));
        await copyFile(src, copy);
        await run(host, ['xz', '-d', copy], { hint: 'xz comes with the xz-utils package' });
        src = copy.replace(/\.xz$/, '');
      } else if (rel.endsWith('.zst')) {
        const copy = join(tmp, basename(rel));
        await copyFile(src, copy);
        await run(host, ['zstd', '-q', '-d', '--rm', copy], { hint: 'zstd comes with the zstd package' });
        src = copy.replace(/\.zst$/, '');
      }
      const name = basename(src);
      names.push(name);
      entries.push({ name: `modules/${name}`, mode: 0o100644, data: await readFile(src) });
    }
    entries.push({ name: 'modules/order', mode: 0o100644, data: Buffer.from(names.join('\n') + '\n') });
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  await writeFile(out + '.tmp', cpioNewc(entries));
  await rename(out + '.tmp', out);
  return out;
}
