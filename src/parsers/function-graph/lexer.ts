import type { FunctionGraphStats } from '../../model/graph.js';
import type { CallRoot } from '../../model/call-tree.js';
import { ParseError } from '../../lib/errors.js';
import type { GraphSink, LineInfo, OpenCalls } from './sink.js';
import { TreeSink } from './tree-sink.js';

/*
 * The bytes the lexer looks for, by name (ASCII). Module-local consts, not imports: the hot loop
 * compares bytes against them: with imported ones the parse ran at 0.84x readline, with these 1.23x
 * (Node 20, scripts/bench/parse-fgraph.mjs, 1.08 GB).
 */
const NL = 0x0a, TAB = 0x09, CR = 0x0d, SP = 0x20, HASH = 0x23, LPAREN = 0x28, RPAREN = 0x29, DASH = 0x2d, DOT = 0x2e;
const SEMI = 0x3b, LBRACK = 0x5b, RBRACK = 0x5d, LBRACE = 0x7b, BAR = 0x7c, RBRACE = 0x7d, DIGIT_0 = 0x30, DIGIT_9 = 0x39;
const isDigit = (c: number): boolean => c >= DIGIT_0 && c <= DIGIT_9;
const BANG = 0x21, PLUS = 0x2b, COLON = 0x3a, UPPER_C = 0x43, LOWER_C = 0x63, LOWER_S = 0x73, LOWER_T = 0x74, LOWER_U = 0x75;

/**
 * A streaming parser for function_graph text, both layouts:
 *
 *  tracefs `trace` (kernel 6.1, options funcgraph-cpu/-proc/-duration/-overhead):
 *     1)  python3-169   |               |  nf_conntrack_in [nf_conntrack]() {
 *     1)  python3-169   | + 68.492 us   |    get_l4proto [nf_conntrack]();
 *     1)  python3-169   | # 1771.079 us |  }
 *   optional abstime column first ("  123.456789 |   1)"), task switches
 *   (" 1)  a-1  =>  b-2 " between dashed lines), irq marks
 *   (" 1)   ==========> |" and " 1)   <========== |"), "CPU:1 [LOST 7 EVENTS]",
 *   "##### CPU 1 buffer started ####", "} /* name *\/" (funcgraph-tail) and
 *   "/* = 0x0 *\/" (funcgraph-retval, 6.5+).
 *
 *  trace-cmd report (trace-cmd 3.1):
 *     python3-169   [001]   123.456789: funcgraph_entry:                   |  nf_conntrack_in() {
 *     python3-169   [001]   123.456790: funcgraph_exit:       + 10.123 us  |  }
 *
 * It works on bytes, never on per-line strings: a line is located with
 * indexOf(\n), its fields are read right to left from the last '|' (the
 * function column never holds one; a task's comm, user-chosen, may), and only
 * a function's name becomes a string, interned. Memory is the open call
 * stacks plus the tree being built: a root is handed to `onRoot` and dropped
 * as soon as it returns.
 *
 * Stacks are kept per task when the pid is printed (a task that sleeps in a
 * call may wake on another CPU), else per CPU. Indentation is the truth for
 * depth: a line shallower than the open stack closes the calls above it as
 * unfinished (lost events), never silently.
 */


export interface FunctionGraphOptions {
  /** Lines longer than this are an error (binary input has no newlines). */
  maxLineBytes?: number;
  /** A single call tree larger than this is an error (bounded memory; TreeSink). */
  maxTreeNodes?: number;
}

export class FunctionGraphParser<F = unknown> implements LineInfo {
  readonly stats: FunctionGraphStats = {
    lines: 0, records: 0, lostEvents: 0, irqEntries: 0, taskSwitches: 0, orphanReturns: 0, unfinished: 0, cpus: [], tracer: null,
  };
  private carry: Buffer | null = null;
  private readonly stacks = new Map<number, OpenCalls<F>>();
  private readonly names = new Map<number, { h2: number; len: number; str: string }[]>();
  private readonly cpuSeen: number[] = [];
  private readonly maxLine: number;
  private lastKey = NaN;
  private nameEnd = 0;
  private lastLine = false;
  private inSwitch = false;
  private lastStack: OpenCalls<F> | undefined;
  private ended = false;
  // The fields of the line being parsed (set by parseLine).
  private cpu = -1;
  private pid = -1;
  private commStart = -1;
  private commEnd = -1;
  private buf: Buffer | null = null;

  private readonly sink: GraphSink<F>;

  /** onRoot: each finished call tree (TreeSink); or any GraphSink, e.g. a PathAggregate. */
  constructor(onRoot: ((root: CallRoot) => void) | GraphSink<F>, opts: FunctionGraphOptions = {}) {
    this.maxLine = opts.maxLineBytes ?? 65_536;
    // A function: the call trees themselves (TreeSink, whose frames are its own type).
    this.sink = typeof onRoot === 'function' ? (new TreeSink(onRoot, opts.maxTreeNodes) as GraphSink<unknown> as GraphSink<F>) : onRoot;
  }

  /** The number of the line being parsed (1-based), for a sink's errors. */
  get lineNo(): number {
    return this.stats.lines;
  }

  /** The task of the line being parsed, for a sink starting a tree. */
  task(): { cpu: number | null; pid: number | null; comm: string | null } {
    return {
      cpu: this.cpu >= 0 ? this.cpu : null,
      pid: this.pid >= 0 ? this.pid : null,
      comm: this.commStart >= 0 && this.buf ? this.buf.toString('utf8', this.commStart, this.commEnd) : null,
    };
  }

  push(chunk: Buffer): void {
    let s = 0;
    const n = chunk.length;
    if (this.carry) {
      // The line cut by the previous chunk: join only that line, not the whole chunk.
      const nl = chunk.indexOf(NL);
      if (nl < 0) {
        if (this.carry.length + n > this.maxLine) this.tooLong(this.carry, 0);
        this.carry = Buffer.concat([this.carry, chunk]);
        return;
      }
      const line = Buffer.concat([this.carry, chunk.subarray(0, nl)]);
      this.carry = null;
      if (line.length > this.maxLine) this.tooLong(line, 0);
      this.stats.lines++;
      this.parseLine(line, 0, line.length);
      s = nl + 1;
    }
    while (s < n) {
      const e = chunk.indexOf(NL, s);
      if (e < 0) break;
      if (e - s > this.maxLine) this.tooLong(chunk, s);
      this.stats.lines++;
      this.parseLine(chunk, s, e);
      s = e + 1;
    }
    if (s < n) {
      if (n - s > this.maxLine) this.tooLong(chunk, s);
      this.carry = Buffer.from(chunk.subarray(s));
    }
  }

  /** Finishes the input: the last line without a newline, calls left open. */
  end(): FunctionGraphStats {
    if (this.ended) return this.stats;
    this.ended = true;
    if (this.carry) {
      const b = this.carry;
      this.carry = null;
      this.stats.lines++;
      this.lastLine = true;
      this.parseLine(b, 0, b.length, true);
    }
    for (const st of this.stacks.values()) this.unwind(st, 0);
    this.stacks.clear();
    this.stats.cpus = this.cpuSeen.flatMap((v, i) => (v === 1 ? [i] : []));
    if (this.stats.tracer !== null && this.stats.tracer !== 'function_graph') {
      throw new ParseError('function_graph trace', 1, `# tracer: ${this.stats.tracer}`, `a trace of the ${this.stats.tracer} tracer, not function_graph`);
    }
    if (this.stats.records === 0) {
      throw new ParseError('function_graph trace', this.stats.lines, '', this.stats.lines === 0 ? 'empty input' : 'no function_graph records in the input');
    }
    return this.stats;
  }

  private tooLong(buf: Buffer, s: number): never {
    throw new ParseError('function_graph trace', this.stats.lines + 1, buf.toString('latin1', s, s + 80), `line longer than ${this.maxLine} bytes (binary input?)`);
  }

  private bad(buf: Buffer, s: number, e: number, why: string): never {
    // The final line without a newline: most likely a file cut short.
    if (this.lastLine && !why.includes('truncated')) why += ' (the last line, without a newline: input truncated?)';
    throw new ParseError('function_graph trace', this.stats.lines, buf.toString('latin1', s, Math.min(e, s + 160)), why);
  }

  private parseLine(buf: Buffer, s: number, e: number, last = false): void {
    if (e > s && buf[e - 1] === CR) e--;
    while (s < e && (buf[s] === SP || buf[s] === TAB)) s++;
    if (s === e) return;
    const c0 = buf[s]!;
    if (c0 === HASH) return this.comment(buf, s, e);
    if (c0 === DASH && buf[s + 1] === DASH) {
      // Dashed lines enclose a task switch line ("1)  a-1  =>  b-2"), whose comms may hold anything.
      this.inSwitch = !this.inSwitch;
      return;
    }
    if (this.inSwitch) {
      this.stats.taskSwitches++;
      return;
    }
    if (c0 === UPPER_C && this.cpuLine(buf, s, e)) return;
    if (c0 === LOWER_C && buf.toString('latin1', s, s + 5) === 'cpus=') return; // trace-cmd header

    // A JS loop, not lastIndexOf: the column is short and a native call per line costs more (node 20).
    let bar = e - 1;
    while (bar >= s && buf[bar] !== BAR) bar--;
    if (bar < s) {
      this.bad(buf, s, e, last ? 'not a function_graph line (input truncated?)' : 'not a function_graph line');
    }
    // Left side: which CPU and task.
    this.cpu = -1;
    this.pid = -1;
    this.commStart = this.commEnd = -1;
    const q = this.leftFields(buf, s, bar);
    if (q < 0) this.bad(buf, s, e, last ? 'not a function_graph line (input truncated?)' : 'no CPU column (funcgraph-cpu) or trace-cmd prefix');

    // Function column: two spaces, then two per depth.
    let f = bar + 1;
    while (f < e && buf[f] === SP) f++;
    if (f === e) return this.irqMark(buf, q, bar, s, e);
    const depth = (f - bar - 3) >> 1;
    const c = buf[f]!;
    const key = this.pid > 0 ? this.pid : -2 - this.cpu;
    let st = key === this.lastKey ? this.lastStack : this.stacks.get(key);
    if (!st) {
      st = { depths: [], frames: [], irq: 0 };
      this.stacks.set(key, st);
    }
    if (this.cpu >= 0 && this.cpu < 65536 && this.cpuSeen[this.cpu] !== 1) this.cpuSeen[this.cpu] = 1;
    this.lastKey = key;
    this.lastStack = st;
    this.stats.records++;

    if (c === RBRACE) {
      const dur = this.duration(buf, q, bar, s, e);
      this.unwind(st, depth + 1);
      const top = st.depths.length - 1;
      if (top < 0 || st.depths[top] !== depth) {
        this.stats.orphanReturns++; // its call is before the start of the trace
        return;
      }
      st.depths.pop();
      this.sink.exit(st, dur, this);
      return;
    }
    // "name [module]() {" or "name();" with an optional " /* = ret */" (6.5+) or args (6.14+).
    const label = this.scanLabel(buf, f, e);
    const p = this.nameEnd;
    if (label === '') this.bad(buf, s, e, last ? 'function call cut short (input truncated?)' : 'no function call after the last |');
    const entry = this.isEntry(buf, p, e);
    if (entry === null) this.bad(buf, s, e, last ? 'function call cut short (input truncated?)' : 'neither "() {" nor "();"');
    this.unwind(st, depth);
    this.buf = buf;
    if (entry) {
      st.depths.push(depth);
      this.sink.enter(st, label, st.irq > 0, this);
    } else {
      this.sink.leaf(st, label, st.irq > 0, this.duration(buf, q, bar, s, e), this);
    }
    this.buf = null;
  }

  /** "() {" (an entry) or "();" (a leaf, maybe followed by a comment): true, false, or null if neither. */
  private isEntry(buf: Buffer, p: number, e: number): boolean | null {
    // Skip the argument list (6.14+ funcgraph-args prints values), nesting aware.
    let depth = 0;
    for (; p < e; p++) {
      const c = buf[p];
      if (c === LPAREN) depth++;
      else if (c === RPAREN && --depth === 0) break;
    }
    if (p >= e) return null;
    p++;
    if (buf[p] === SEMI) return false;
    if (buf[p] === SP && buf[p + 1] === LBRACE) return true;
    return null;
  }

  /**
   * Reads the CPU (and pid, if printed) left of the function column; returns
   * where the duration column starts, or -1 if the line has no known prefix.
   */
  private leftFields(buf: Buffer, s: number, bar: number): number {
    let p = s;
    // abstime: "  123.456789 |   1)"
    if (isDigit(buf[p]!)) {
      let d = p;
      while (d < bar && isDigit(buf[d]!)) d++;
      if (buf[d] === DOT) {
        const b1 = buf.indexOf(BAR, d);
        if (b1 < bar) {
          p = b1 + 1;
          while (p < bar && buf[p] === SP) p++;
        }
      }
    }
    // tracefs: "N)"
    let d = p, cpu = 0;
    while (d < bar && isDigit(buf[d]!)) cpu = cpu * 10 + buf[d++]! - DIGIT_0;
    if (d > p && buf[d] === RPAREN) {
      this.cpu = cpu;
      // funcgraph-proc: "comm-pid |" then the duration column; find the bar before the function column's.
      let b2 = bar - 1;
      while (b2 > d && buf[b2] !== BAR) b2--;
      if (b2 > d) {
        this.taskFrom(buf, d + 1, b2);
        return b2 + 1;
      }
      return d + 1;
    }
    // trace-cmd: "comm-pid [cpu] ts: funcgraph_entry:"
    const tag = buf.indexOf(': funcgraph_', p);
    if (tag > 0 && tag < bar) {
      const close = buf.lastIndexOf(RBRACK, tag);
      const open = close > p ? buf.lastIndexOf(LBRACK, close) : -1;
      if (open < p) return -1;
      let v = 0, k = open + 1;
      while (k < close && isDigit(buf[k]!)) v = v * 10 + buf[k++]! - DIGIT_0;
      if (k !== close) {
        // latency format puts flags after the CPU: "[001] d..1."
        if (k === open + 1) return -1;
      }
      this.cpu = v;
      this.taskFrom(buf, p, open);
      return buf.indexOf(COLON, tag + 2) + 1;
    }
    // No CPU column (funcgraph-cpu off): durations and functions only.
    if (p === s && (buf[p] === BAR || buf[p] === SP || buf[p] === PLUS || buf[p] === BANG || isDigit(buf[p]!))) return s;
    return -1;
  }

  /** "comm-pid" ending (before spaces) at `end`: the pid is the digits after the last '-'. */
  private taskFrom(buf: Buffer, start: number, end: number): void {
    let e = end;
    while (e > start && buf[e - 1] === SP) e--;
    let k = e, pid = 0, mul = 1;
    while (k > start && isDigit(buf[k - 1]!)) {
      pid += (buf[k - 1]! - DIGIT_0) * mul;
      mul *= 10;
      k--;
    }
    if (k === e || buf[k - 1] !== DASH) return;
    this.pid = pid;
    let cs = start;
    while (cs < k - 1 && buf[cs] === SP) cs++;
    this.commStart = cs;
    this.commEnd = k - 1;
  }

  /** "+ 68.492 us" right-aligned before the function column's bar; null if absent. */
  private duration(buf: Buffer, from: number, bar: number, s: number, e: number): number | null {
    let p = bar - 1;
    while (p >= from && buf[p] === SP) p--;
    if (p < from + 2 || buf[p] !== LOWER_S || buf[p - 1] !== LOWER_U) return null;
    p -= 2;
    while (p >= from && buf[p] === SP) p--;
    let v = 0, frac = 0, scale = 1, mul = 1;
    const end = p;
    while (p >= from && (isDigit(buf[p]!) || buf[p] === DOT)) {
      if (buf[p] === DOT) {
        frac = v;
        scale = mul;
        v = 0;
        mul = 1;
      } else {
        v += (buf[p]! - DIGIT_0) * mul;
        mul *= 10;
      }
      p--;
    }
    if (p === end) this.bad(buf, s, e, 'no number before "us"');
    return v + frac / scale;
  }

  private irqMark(buf: Buffer, q: number, bar: number, s: number, e: number): void {
    const text = buf.toString('latin1', q, bar).trim();
    const key = this.pid > 0 ? this.pid : -2 - this.cpu;
    const st = this.stacks.get(key) ?? { depths: [], frames: [], irq: 0 };
    this.stacks.set(key, st);
    if (text.endsWith('==========>')) {
      st.irq++;
      this.stats.irqEntries++;
    } else if (text.startsWith('<==========')) {
      if (st.irq > 0) st.irq--;
    } else {
      this.bad(buf, s, e, 'empty function column');
    }
  }

  private cpuLine(buf: Buffer, s: number, e: number): boolean {
    const t = buf.toString('latin1', s, Math.min(e, s + 120));
    const lost = /^CPU:?\s*\d+\s*\[(?:LOST\s+)?(\d+)\s+EVENTS(?: DROPPED)?\]/.exec(t);
    if (lost) {
      this.stats.lostEvents += Number(lost[1]);
      return true;
    }
    return /^CPU\s*\d+ is empty/.test(t) || /^CPU\d+ data recorded/.test(t);
  }

  private comment(buf: Buffer, s: number, e: number): void {
    if (buf[s + 2] !== LOWER_T || buf[s + 1] !== SP) return; // only "# tracer: NAME" matters
    const t = buf.toString('latin1', s, Math.min(e, s + 80));
    const m = /^# tracer: (\S+)/.exec(t);
    if (m) this.stats.tracer = m[1]!;
  }

  /**
   * The label "name" or "name [module]" starting at s, up to the "(", as a
   * string made once per distinct label: making a string per line cost a
   * third of the parse time (node 20). Two 32-bit hashes of the bytes plus
   * the length identify it (a collision among even 100k distinct labels has
   * odds below 1e-9); past 100k labels, strings are made. Sets nameEnd to
   * the "("; returns "" if the text is not "identifier[ [module]](".
   */
  private scanLabel(buf: Buffer, s: number, limit: number): string {
    let h1 = 0x811c9dc5, h2 = 0x9747b28c;
    let e = s;
    let sp = -1;
    for (; e < limit; e++) {
      const c = buf[e]!;
      if (c === LPAREN) break;
      if (c === SP) {
        // Only " [module]" may follow the name.
        if (sp >= 0 || buf[e + 1] !== LBRACK) return '';
        sp = e;
      }
      h1 = Math.imul(h1 ^ c, 0x01000193);
      h2 = Math.imul(h2 + c, 0x5bd1e995) ^ (h2 >>> 15);
    }
    this.nameEnd = e;
    if (e === s || e === limit || sp === s || (sp >= 0 && buf[e - 1] !== RBRACK)) return '';
    const len = e - s;
    const slot = this.names.get(h1);
    if (slot !== undefined) {
      for (let i = 0; i < slot.length; i++) {
        const n = slot[i]!;
        if (n.h2 === h2 && n.len === len) return n.str;
      }
    }
    const str = buf.toString('latin1', s, e);
    if (slot) {
      if (slot.length < 8) slot.push({ h2, len, str });
    } else if (this.names.size < 100_000) {
      this.names.set(h1, [{ h2, len, str }]);
    }
    return str;
  }

  /** Closes (as unfinished) every open call at `depth` or deeper. */
  private unwind(st: OpenCalls<F>, depth: number): void {
    while (st.depths.length > 0 && st.depths[st.depths.length - 1]! >= depth) {
      st.depths.pop();
      this.stats.unfinished++;
      this.sink.abandon(st, this);
    }
  }
}
