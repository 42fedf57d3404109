import { randomBytes } from 'node:crypto';
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

/**
 * Whether an ELF64 file is whole: its section header table, which the linker writes last, ends
 * inside it. A decompression cut short (killed at its deadline, a disk full) leaves a file whose
 * magic is right and whose tail is missing: that must never be cached as the kernel.
 */
export function elfComplete(head: Buffer, size: number): boolean {
  if (head.length < 64 || !head.subarray(0, 4).equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46])) || head[4] !== 2 || head[5] !== 1) return false;
  const shoff = Number(head.readBigUInt64LE(0x28));
  const shentsize = head.readUInt16LE(0x3a);
  const shnum = head.readUInt16LE(0x3c);
  return shoff > 0 && shnum > 0 && shoff + shentsize * shnum <= size;
}

/** Path of the extracted vmlinux (made once, next to the bzImage), or null when it cannot be made. */
export async function ensureVmlinux(host: Target, vmlinuz: string, out: string): Promise<string | null> {
  if (existsSync(out)) return out;
  const image = await readFile(vmlinuz);
  const p = findPayload(image);
  if (!p) return null;
  // Names of this call's own: two boots of one kernel at once each write theirs, and the rename
  // puts a whole file in place (either one).
  const tmp = `${out}.tmp.${process.pid}.${randomBytes(4).toString('hex')}`;
  try {
    await writeFile(`${tmp}.${p.ext}`, image.subarray(p.offset));
    const r = await host.exec(p.argv(`${tmp}.${p.ext}`), { timeoutMs: 120_000, stdoutFile: tmp });
    // zstd exits 1 over the bzImage's bytes after its stream (xz --single-stream ignores them): the
    // exit says little, the ELF's own layout says whether the output is whole.
    if (r.timedOut) return null;
    const fh = await open(tmp, 'r');
    const head = Buffer.alloc(64);
    try {
      await fh.read(head, 0, 64, 0);
      if (!elfComplete(head, (await fh.stat()).size)) return null;
    } finally {
      await fh.close();
    }
    await rename(tmp, out);
    return out;
  } finally {
    await rm(`${tmp}.${p.ext}`, { force: true });
    await rm(tmp, { force: true });
  }
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
  const tmp = `${out}.tmp.${process.pid}.${randomBytes(4).toString('hex')}`;
  try {
    const r = await host.exec(['objcopy', '-O', 'binary', '--only-section=.BTF', elf, tmp], { timeoutMs: 60_000 });
    if (r.exitCode !== 0 || r.timedOut) return null;
    await rename(tmp, out);
    return out;
  } finally {
    await rm(tmp, { force: true });
  }
}
