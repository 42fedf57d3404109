import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseNflogLine } from '../../src/parsers/nflog.js';
import { ParseError } from '../../src/lib/errors.js';
import { ROOT } from '../helpers/sys.js';

/** Real payload/net/nflog.py output: conntrack's INVALID log of one SYN+FIN segment (scripts/capture/nflog.sh; meta.json beside). */
const DIR = join(ROOT, 'test/fixtures/nflog');

describe.each(readdirSync(DIR))('nflog.py captured on %s', (kernel) => {
  const lines = readFileSync(join(DIR, kernel, 'synfin/stdout.jsonl'), 'utf8').trim().split('\n');

  it('each line the segment the workload sent, conntrack\'s reason in its prefix', () => {
    const parsed = lines.map((l, i) => parseNflogLine(l, i + 1));
    expect(parsed.length).toBeGreaterThan(0);
    // The workload: one TCP segment 127.0.0.1:40000 → :9, 20 + 20 bytes.
    for (const p of parsed) expect([p.proto, p.ip_len, p.sport, p.dport]).toEqual([6, 40, 40000, 9]);
    // SYN with FIN: tcp_error's flag check names it.
    expect(parsed[0]!.prefix).toMatch(/^nf_ct_proto_6: invalid tcp flag combination/);
  });
});

describe('a line of another shape is an error', () => {
  it.each([
    ['READY', 'not a JSON line'],
    ['[1,2]', 'lacks a field'],
    ['{"prefix": 3, "ip_len": 40, "proto": 6, "sport": 1, "dport": 2}', 'lacks a field'],
    ['{"prefix": "x", "ip_len": -1, "proto": 6, "sport": 1, "dport": 2}', 'lacks a field'],
    ['null', 'not a JSON object'],
  ])('%s', (line, why) => {
    expect(() => parseNflogLine(line)).toThrow(ParseError);
    expect(() => parseNflogLine(line)).toThrow(why);
  });
});
