import { ParseError } from '../lib/errors.js';
import { parseBpftraceJsonLine } from './bpftrace-json.js';
import type { CallNode } from '../model/call-tree.js';

/**
 * bpftrace maps keyed by a kernel stack (bpftrace 0.17), text:
 *   @drops[
 *       sk_skb_reason_drop+144
 *       tcp_v4_rcv+145
 *   , 3]: 5                      (a composite key: ", 3" after the stack)
 * or `-f json`:
 *   {"type": "map", "data": {"@drops": {"\n    sk_skb_reason_drop+144\n    tcp_v4_rcv+145\n,3": 5}}}
 * Frames are innermost first, "symbol+offset" with an optional " [module]".
 */
export interface KStack {
  map: string;
  frames: string[];
  /** The rest of a composite key, e.g. the drop reason. */
  extra: string | null;
  count: number;
}

const FRAME = /^\s+(\S+?)(?:\+(\d+|0x[0-9a-f]+))?(?: \[(\S+)\])?\s*$/;

/**
 * Lines outside stack-keyed maps (printf output, other maps) are skipped and
 * counted, never taken for frames.
 */
export function parseKstackText(text: string): { stacks: KStack[]; skipped: number } {
  const out: KStack[] = [];
  let skipped = 0;
  const lines = text.split('\n');
  let cur: { map: string; frames: string[]; start: number } | null = null;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.replace(/\r$/, '');
    const bad = (why: string): never => {
      throw new ParseError('bpftrace kstack map', i + 1, line, why);
    };
    if (cur === null) {
      // bpftrace's own chatter when stderr was saved too (0.17: the RLIMIT_MEMLOCK notice is harmless).
      if (line.trim() === '' || /^Attaching \d+ probes?\.\.\.$/.test(line) || /^ERROR: Unknown error -1: couldn't set RLIMIT_MEMLOCK/.test(line)) continue;
      const open = /^(@\w*)\[\s*$/.exec(line);
      if (open) cur = { map: open[1]!, frames: [], start: i + 1 };
      else if (/^\s/.test(line)) bad('a stack frame outside a "@map[" key');
      else skipped++;
      continue;
    }
    if (line === '' && i === lines.length - 1) break; // the file's final newline
    const close = /^(?:,\s*(.*?))?\]:\s*(\d+)\s*$/.exec(line);
    if (close) {
      if (cur.frames.length === 0) bad('a stack key with no frames');
      out.push({ map: cur.map, frames: cur.frames, extra: close[1] ?? null, count: Number(close[2]) });
      cur = null;
      continue;
    }
    if (!FRAME.test(line)) bad('not a stack frame');
    cur.frames.push(line.trim());
    if (cur.frames.length > 512) bad('more than 512 frames in one stack');
  }
  if (cur) throw new ParseError('bpftrace kstack map', lines.length, lines[cur.start - 1] ?? '', `stack opened at line ${cur.start} never closed (input truncated?)`);
  return { stacks: out, skipped };
}

export function parseKstackJson(text: string): KStack[] {
  const out: KStack[] = [];
  text.split('\n').forEach((l, i) => {
    const ev = parseBpftraceJsonLine(l, i + 1);
    if (!ev || ev.type !== 'map') return;
    for (const [map, entries] of Object.entries(ev.data as Record<string, unknown>)) {
      if (typeof entries !== 'object' || entries === null) continue; // a scalar map: not keyed by a stack
      for (const [key, count] of Object.entries(entries as Record<string, unknown>)) {
        if (!key.startsWith('\n')) continue; // not keyed by a stack
        if (typeof count !== 'number') throw new ParseError('bpftrace kstack map', i + 1, l, `count of a stack in ${map} is not a number`);
        const parts = key.split('\n');
        const last = parts.pop()!;
        const frames = parts.filter((p) => p !== '');
        if (!frames.every((f) => FRAME.test(f))) throw new ParseError('bpftrace kstack map', i + 1, l, `a frame in ${map} is not "symbol+offset"`);
        out.push({ map, frames: frames.map((f) => f.trim()), extra: last.startsWith(',') ? last.slice(1).trim() : null, count });
      }
    }
  });
  return out;
}

/** Text or JSON, told apart by the first non-blank character. */
export function parseKstacks(text: string): { stacks: KStack[]; skipped: number } {
  if (text.trim() === '') throw new ParseError('bpftrace kstack map', 1, '', 'empty input');
  // The first line that is not bpftrace's stderr chatter decides.
  const first = text.split('\n').find((l) => l.trim() !== '' && !l.startsWith('ERROR: Unknown error -1') && !l.startsWith('Attaching '));
  const r = first?.trimStart().startsWith('{')
    ? { stacks: parseKstackJson(text.split('\n').filter((l) => !l.startsWith('ERROR: Unknown error -1')).join('\n')), skipped: 0 }
    : parseKstackText(text);
  if (r.stacks.length === 0) throw new ParseError('bpftrace kstack map', 1, text.slice(0, 80), 'no map keyed by a kernel stack in the input');
  return r;
}

export function frameSymbol(frame: string): { fn: string; module?: string } {
  const m = FRAME.exec(' ' + frame);
  if (!m) return { fn: frame };
  return m[3] ? { fn: m[1]!, module: m[3] } : { fn: m[1]! };
}

/**
 * Stacks merged into a tree from the outermost frame in, by function (the
 * offset dropped), each node counting the stacks through it: the shape a
 * call tree has, so both render alike.
 */
export function kstackTree(stacks: KStack[]): CallNode[] {
  const roots: CallNode[] = [];
  for (const s of stacks) {
    let level = roots;
    for (let i = s.frames.length - 1; i >= 0; i--) {
      const { fn, module } = frameSymbol(s.frames[i]!);
      let n = level.find((c) => c.fn === fn && c.module === module);
      if (!n) {
        n = module ? { fn, module, count: 0, durationUs: null, children: [] } : { fn, count: 0, durationUs: null, children: [] };
        level.push(n);
      }
      n.count += s.count;
      level = n.children;
    }
  }
  return roots;
}
