import { ParseError } from '../lib/errors.js';

/**
 * The printf records of nfscope's tracers: a line "<LETTER> field…",
 * optionally followed by a kernel stack (bpftrace's kstack text: a newline,
 * one frame a line, a blank line). READY marks the probes attached.
 */
export interface TraceRecord {
  kind: string;
  fields: string[];
  stack: string[];
  line: number;
}

const FRAME = /^([\w.$]+(\+\d+)?|0x[0-9a-f]+)$/;

export function parseTraceRecords(lines: string[], what: string, withStack: ReadonlySet<string>): { ready: boolean; records: TraceRecord[] } {
  let ready = false;
  const records: TraceRecord[] = [];
  let cur: TraceRecord | null = null;
  lines.forEach((line, i) => {
    if (line === 'READY') {
      ready = true;
      return;
    }
    const m = line.match(/^([A-Z]) (.*)$/);
    if (m) {
      const rec: TraceRecord = { kind: m[1]!, fields: m[2]!.split(' '), stack: [], line: i + 1 };
      records.push(rec);
      cur = withStack.has(rec.kind) ? rec : null;
      return;
    }
    const t = line.trim();
    if (t === '') {
      // A blank line right after the record opens its stack; one after frames closes it.
      if (cur && cur.stack.length > 0) cur = null;
      return;
    }
    if (!cur) throw new ParseError(what, i + 1, line, 'stack frame outside a record');
    if (!FRAME.test(t)) throw new ParseError(what, i + 1, line, 'not a stack frame');
    cur.stack.push(t);
  });
  return { ready, records };
}

/** Checks a record's field count and shapes; throws a ParseError naming the record. */
export function expectFields(r: TraceRecord, what: string, shapes: RegExp[]): string[] {
  if (r.fields.length !== shapes.length || !shapes.every((re, i) => re.test(r.fields[i]!))) {
    throw new ParseError(what, r.line, `${r.kind} ${r.fields.join(' ')}`, `malformed ${r.kind} record`);
  }
  return r.fields;
}
