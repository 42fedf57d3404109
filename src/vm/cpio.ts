/**
 * A minimal cpio "newc" writer, all an initramfs needs: directories and
 * regular files. (GNU cpio would need a shell pipeline to be fed a file
 * list and to gzip; the kernel takes an uncompressed archive as well.)
 */
export interface CpioEntry {
  name: string;
  mode: number; // with type bits: 0o040000 dir, 0o100000 file
  data?: Buffer;
}

const hex8 = (n: number) => n.toString(16).padStart(8, '0');
const pad4 = (n: number) => Buffer.alloc((4 - (n % 4)) % 4);

export function cpioNewc(entries: CpioEntry[]): Buffer {
  const parts: Buffer[] = [];
  let ino = 1;
  const push = (name: string, mode: number, data: Buffer) => {
    const nameBuf = Buffer.from(name + '\0');
    const header = '070701' + [ino++, mode, 0, 0, mode & 0o040000 ? 2 : 1, 0, data.length, 0, 0, 0, 0, nameBuf.length, 0].map(hex8).join('');
    parts.push(Buffer.from(header), nameBuf, pad4(110 + nameBuf.length), data, pad4(data.length));
  };
  for (const e of entries) push(e.name, e.mode, e.data ?? Buffer.alloc(0));
  push('TRAILER!!!', 0, Buffer.alloc(0));
  return Buffer.concat(parts);
}
