import { existsSync } from 'node:fs';
import { open, readFile, rename, rm, writeFile } from 'node:fs/promises';
import type { Target } from '../lib/target.js';

/**
 * The uncompressed ELF vmlinux inside a bzImage. Under TCG the kernel's own
 * decompressor takes ~2 s (Debian 6.1 is xz-compressed, 8 MB → 66 MB);
 * booting the ELF through its PVH entry (CONFIG_PVH, qemu 4.0+) skips that.
 * Same approach as the kernel's scripts/extract-vmlinux: find the compressed
 * payload by its magic and decompress one stream.
 */
// Decompress to stdout: both tools stop at the payload's end and complain
// about what follows it (the bzImage's trailing size field); the output
// written up to there is the kernel, checked below by its ELF magic.
// Debian 6.1 uses xz, Debian 6.12 zstd.
const FORMATS: { magic: Buffer; ext: string; argv: (f: string) => string[] }[] = [
  { magic: Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]), ext: 'xz', argv: (f) => ['xz', '-d', '-c', '--single-stream', f] },
  { magic: Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), ext: 'zst', argv: (f) => ['zstd', '-q', '-d', '-c', f] },
];

export function findPayload(image: Buffer): { offset: number; ext: string; argv: (f: string) => string[] } | null {
  let best: { offset: number; ext: string; argv: (f: string) => string[] } | null = null;
  for (const f of FORMATS) {
    const i = image.indexOf(f.magic);
    if (i >= 0 && (!best || i < best.offset)) best = { offset: i, ext: f.ext, argv: f.argv };
  }
  return best;
}

/** Path of the extracted vmlinux (made once, next to the bzImage), or null when it cannot be made. */
export async function ensureVmlinux(host: Target, vmlinuz: string, out: string): Promise<string | null> {
  if (existsSync(out)) return out;
  const image = await readFile(vmlinuz);
  const p = findPayload(image);
  if (!p) return null;
  const tmp = `${out}.tmp.${p.ext}`;
  await writeFile(tmp, image.subarray(p.offset));
  const raw = `${out}.tmp`;
  await host.exec(p.argv(tmp), { timeoutMs: 120_000, stdoutFile: raw });
  await rm(tmp, { force: true });
  const fh = await open(raw, 'r');
  const head = Buffer.alloc(4);
  await fh.read(head, 0, 4, 0);
  await fh.close();
  if (!head.equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46]))) {
    await rm(raw, { force: true });
    return null;
  }
  await rename(raw, out);
  return out;
}

/**
 * The kernel's BTF as /sys/kernel/btf/vmlinux gives it: the .BTF section of
 * the ELF vmlinux (the same bytes: 3586603 on Debian 5.10 both ways),
 * extracted once with objcopy. null without the ELF or binutils.
 */
export async function ensureKernelBtf(host: Target, kernelDir: string, version: string): Promise<string | null> {
  const elf = `${kernelDir}/vmlinux-${version}`;
  const out = `${elf}.btf`;
  if (existsSync(out)) return out;
  if (!existsSync(elf)) return null;
  const tmp = `${out}.tmp`;
  const r = await host.exec(['objcopy', '-O', 'binary', '--only-section=.BTF', elf, tmp], { timeoutMs: 60_000 });
  if (r.exitCode !== 0) {
    await rm(tmp, { force: true });
    return null;
  }
  await rename(tmp, out);
  return out;
}
