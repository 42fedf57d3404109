import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';

/**
 * Feeds a file (or stdin, "-") to a chunk consumer in 1 MiB reads: a parser
 * that works on Buffers sees the bytes once and holds at most one chunk plus
 * its own state, whatever the file's size.
 */
export async function feedChunks(path: string, push: (chunk: Buffer) => void | Promise<void>): Promise<number> {
  const src: Readable = path === '-' ? process.stdin : createReadStream(path, { highWaterMark: 1 << 20 });
  let bytes = 0;
  for await (const chunk of src) {
    const b = chunk as Buffer;
    bytes += b.length;
    // A consumer that writes as it reads returns a promise: the next read waits for it (backpressure).
    await push(b);
  }
  return bytes;
}
