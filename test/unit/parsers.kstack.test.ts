import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { kstackTree, parseKstacks, parseKstackText } from '../../src/parsers/kstack.js';
import { findPath } from '../../src/model/call-tree.js';
import { ParseError } from '../../src/lib/errors.js';
import { ROOT } from '../helpers/sys.js';

/** Real bpftrace 0.17 output on 6.18 (scripts/capture/kstack-host.sh; meta.json beside). */
const D = join(ROOT, 'test/fixtures/kstack/6.18.44-fc-v657/closed-port');
const TEXT = readFileSync(join(D, 'text.out'), 'utf8');
const JSONL = readFileSync(join(D, 'json.out'), 'utf8');

describe('bpftrace kstack maps (3 SYNs to a closed port, 6.18)', () => {
  it('text: two maps, composite key extra = the drop reason, counts add up to 3 a map', () => {
    const { stacks, skipped } = parseKstacks(TEXT);
    expect(skipped).toBe(1); // the READY printf
    const drops = stacks.filter((s) => s.map === '@drops');
    expect(drops.reduce((n, s) => n + s.count, 0)).toBe(3);
    expect(new Set(drops.map((s) => s.extra))).toEqual(new Set(['3']));
    expect(stacks.filter((s) => s.map === '@all').reduce((n, s) => n + s.count, 0)).toBe(3);
    expect(drops[0]!.frames[0]).toBe('sk_skb_reason_drop+144');
  });
  it('json: the same maps', () => {
    const { stacks } = parseKstacks(JSONL);
    expect(stacks.filter((s) => s.map === '@drops').reduce((n, s) => n + s.count, 0)).toBe(3);
    expect(stacks.find((s) => s.map === '@drops')!.extra).toBe('3');
  });
  it('merged from the outermost frame in, by function: the syscall down to the drop, counted', () => {
    const tree = kstackTree(parseKstacks(TEXT).stacks.filter((s) => s.map === '@all'));
    expect(tree).toHaveLength(1);
    expect(tree[0]!).toMatchObject({ fn: 'entry_SYSCALL_64_after_hwframe', count: 3 });
    const path = findPath(tree, ['tcp_v4_connect', 'net_rx_action', 'tcp_v4_rcv', 'sk_skb_reason_drop'])!;
    expect(path.map((n) => n.count)).toEqual([3, 3, 3, 3]);
  });
  it('truncated, garbage and empty input: typed errors with line numbers', () => {
    const cut = TEXT.slice(0, TEXT.indexOf('tcp_v4_rcv'));
    expect(() => parseKstacks(cut)).toThrow(/line 7: not a stack frame/); // cut mid-line
    const atLine = TEXT.slice(0, TEXT.indexOf('\n', TEXT.indexOf('tcp_v4_rcv')) + 1);
    expect(() => parseKstacks(atLine)).toThrow(/opened at line 5 never closed \(input truncated\?\)/);
    expect(() => parseKstacks('')).toThrow(/empty input/);
    expect(() => parseKstacks('hello\nworld\n')).toThrow(/no map keyed by a kernel stack/);
    expect(() => parseKstackText('@x[\n    ok+1\n  $(rm -rf /)\n]: 1\n')).toThrow(/line 3: not a stack frame/);
    expect(() => parseKstacks(JSONL.replace('"type": "map"', '"type": "map", "x'))).toThrow(ParseError);
    expect(() => parseKstacks(JSONL.slice(0, JSONL.length - 30))).toThrow(ParseError);
  });
});
