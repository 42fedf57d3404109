import { open, truncate, writeFile, type FileHandle } from 'node:fs/promises';
import { StringDecoder } from 'node:string_decoder';
import { consoleEvidence, isTrouble, type ConsoleEvidence } from './console-evidence.js';

/** The console file on disk is cut back to nothing past this size (what was read is kept in memory, bounded). */
export const CONSOLE_CAP = 4 << 20;
/** The console's last characters, kept in memory whatever the file's cuts. */
export const TAIL_CHARS = 256 << 10;
/** From the first trouble report on (an oops, a lockup): kept even when a flood after it is cut. */
export const EARLY_CHARS = 64 << 10;

/**
 * Keeps the guest console of one run: reads the file qemu appends to (chardev
 * file,append=on: O_APPEND, so a cut from here is safe and qemu's next write
 * lands at the new end), keeps its tail and its first trouble report in
 * memory, and cuts the file back past the cap. A guest that floods its
 * console (a soft-lockup storm under TCG) cannot fill the disk, and the
 * flood's start (the oops that began it) survives the cut. What qemu writes
 * between the last read and a cut (one interval's worth at most, and only
 * past the cap) is lost, and a marker says where.
 */
export class ConsoleKeeper {
  private fh: FileHandle | null = null;
  private pos = 0;
  /** Characters consumed since the start: the stream offset of the end of `tail`. */
  private consumed = 0;
  private tail = '';
  private partial = '';
  private early: string | null = null;
  private earlyAt = 0;
  private decoder = new StringDecoder('utf8');
  private chain: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | null = null;
  private buf: Buffer | null = null;

  constructor(readonly path: string, private o: { cap?: number; tailChars?: number; earlyChars?: number; everyMs?: number } = {}) {}

  /** Starts reading every interval (unref'd: it never keeps nfscope alive). */
  start(): this {
    this.timer = setInterval(() => void this.sync(), this.o.everyMs ?? 1000);
    this.timer.unref();
    return this;
  }

  /** Reads what qemu wrote since the last read (serialized: one read at a time). */
  sync(): Promise<void> {
    this.chain = this.chain.then(() => this.readNew()).catch(() => {
      // A read error (the file not created yet by qemu, or removed at the end) leaves what was
      // kept as it is; the next sync tries again. Never feeds a report: evidence() shows what was read.
    });
    return this.chain;
  }

  private async readNew(): Promise<void> {
    this.fh ??= await open(this.path, 'r');
    const cap = this.o.cap ?? CONSOLE_CAP;
    const buf = (this.buf ??= Buffer.alloc(1 << 20));
    for (;;) {
      const { bytesRead } = await this.fh.read(buf, 0, buf.length, this.pos);
      if (!bytesRead) break;
      this.pos += bytesRead;
      this.take(this.decoder.write(buf.subarray(0, bytesRead)));
    }
    if (this.pos > cap) {
      await truncate(this.path, 0);
      this.pos = 0;
      this.take(`\n[nfscope: the console file passed ${cap >> 10} KiB and was cut here; what came before is kept in memory]\n`);
    }
  }

  private take(text: string): void {
    if (!text) return;
    const tailChars = this.o.tailChars ?? TAIL_CHARS;
    const earlyChars = this.o.earlyChars ?? EARLY_CHARS;
    const base = this.consumed; // stream offset of text's first character
    const combined = this.tail + text;
    const combinedAt = base - this.tail.length;
    this.tail = combined.slice(-tailChars);
    this.consumed += text.length;
    if (this.early !== null) {
      if (this.early.length < earlyChars) this.early += text.slice(0, earlyChars - this.early.length);
      return;
    }
    // Complete lines only: a trouble line split across two reads is found on the second.
    let lineAt = base - this.partial.length;
    const lines = (this.partial + text).split('\n');
    this.partial = lines.pop() ?? '';
    for (const l of lines) {
      if (isTrouble(l)) {
        // The trouble report and what follows it, with a little of what came before for context.
        const from = Math.max(combinedAt, lineAt - 2048);
        this.early = combined.slice(from - combinedAt).slice(0, earlyChars);
        this.earlyAt = from;
        return;
      }
      lineAt += l.length + 1;
    }
  }

  /** The kept console: its first trouble report (when the tail no longer holds it) and its tail. */
  text(): string {
    if (this.early === null) return this.tail;
    const tailStart = this.consumed - this.tail.length;
    if (tailStart <= this.earlyAt) return this.tail;
    const early = this.early.slice(0, tailStart - this.earlyAt);
    const gap = tailStart - this.earlyAt - early.length;
    return gap > 0 ? `${early}\n[nfscope: … ${gap} characters of console not kept …]\n${this.tail}` : early + this.tail;
  }

  /** Reads to the end, then picks the lines that matter. */
  async evidence(): Promise<ConsoleEvidence> {
    await this.sync();
    return consoleEvidence(this.text());
  }

  /** Stops reading; with keep, leaves the kept text (bounded) in the file for the user. */
  async stop(keep = false): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (keep) {
      await this.sync();
      await writeFile(this.path, this.text(), { mode: 0o600 });
    }
    await this.chain;
    await this.fh?.close().catch(() => {
      // Already closed: nothing left to release.
    });
    this.fh = null;
  }
}
