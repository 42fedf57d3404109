/**
 * Bounded buffers for output that may run for hours (issue 26: an hour of `nfscope follow` kept
 * every line of bpftrace, `nft monitor` and `conntrack -E` and passed V8's string limit). Each
 * keeps at most a fixed amount and counts what it let go, so a report can say so. The pure
 * ones a report's data needs (Counted, Ring) are in model/bounded.ts.
 */

/** The last maxBytes of a byte stream (a process's stderr), and how many bytes came before them. */
export class ByteTail {
  private chunks: Buffer[] = [];
  private size = 0;
  /** Bytes seen and let go (the stream's head). */
  dropped = 0;

  constructor(readonly maxBytes = 64 << 10) {}

  push(b: Buffer): void {
    this.chunks.push(b);
    this.size += b.length;
    while (this.size > this.maxBytes) {
      const first = this.chunks[0]!;
      const over = this.size - this.maxBytes;
      if (first.length <= over) {
        this.chunks.shift();
        this.size -= first.length;
        this.dropped += first.length;
      } else {
        this.chunks[0] = first.subarray(over);
        this.size -= over;
        this.dropped += over;
      }
    }
  }

  /** The kept bytes as text, led by a note of what was let go (a cut UTF-8 sequence shows as U+FFFD). */
  text(): string {
    const body = Buffer.concat(this.chunks).toString('utf8');
    return this.dropped ? `[${this.dropped} earlier bytes not kept]\n${body}` : body;
  }
}

/**
 * Splits a byte stream into lines as it comes and hands each on; nothing is kept but the line not
 * yet ended. A line longer than maxLine is no output of the tools nfscope reads: its bytes are let
 * go up to its end, and it is counted (overlong), never handed on cut.
 */
export class LineSplitter {
  private pending: string[] = [];
  private pendingLen = 0;
  private skipping = false;
  overlong = 0;

  constructor(private readonly onLine: (line: string) => void, readonly maxLine = 16 << 20) {}

  push(chunk: string): void {
    let start = 0;
    let i: number;
    while ((i = chunk.indexOf('\n', start)) >= 0) {
      const piece = chunk.slice(start, i);
      start = i + 1;
      if (this.skipping || this.pendingLen + piece.length > this.maxLine) {
        if (!this.skipping) this.overlong++;
        this.skipping = false;
        this.pending = [];
        this.pendingLen = 0;
        continue;
      }
      this.pending.push(piece);
      // Joined once per line: a long line arriving in many chunks is not copied per chunk.
      const line = this.pending.length === 1 ? piece : this.pending.join('');
      this.pending = [];
      this.pendingLen = 0;
      this.onLine(line);
    }
    if (start < chunk.length && !this.skipping) {
      const rest = chunk.slice(start);
      if (this.pendingLen + rest.length > this.maxLine) {
        this.overlong++;
        this.skipping = true;
        this.pending = [];
        this.pendingLen = 0;
      } else {
        this.pending.push(rest);
        this.pendingLen += rest.length;
      }
    }
  }

  /** The stream ended: a last line without its newline is still a line. */
  end(): void {
    if (!this.skipping && this.pendingLen > 0) this.onLine(this.pending.join(''));
    this.pending = [];
    this.pendingLen = 0;
    this.skipping = false;
  }
}
