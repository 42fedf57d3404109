/**
 * Issue 26, part 7: an nft trace line is parsed in linear time, and follow's text shows the
 * machine's strings with their control characters escaped.
 */
import { describe, expect, it } from 'vitest';
import { parseNftTraceLine } from '../../src/parsers/nft-trace.js';
import { escapeControls, renderFollowSummary } from '../../src/render/follow.js';
import type { FollowSummary } from '../../src/model/follow.js';

describe('nft trace lines in linear time', () => {
  const timed = (l: string) => {
    const t0 = performance.now();
    let r: string | undefined;
    try {
      r = parseNftTraceLine(l)?.kind;
    } catch {
      r = 'throws';
    }
    return { kind: r, ms: performance.now() - t0 };
  };
  it('88 KB lines that made the old regexes backtrack (1.5 s and 17 s at 200951e) take milliseconds', () => {
    const head = 'trace id 1 ip filter INPUT ';
    const a = timed(`${head}rule ${' (verdict x'.repeat(8000)}`);
    const b = timed(`${head}verdict ${' '.repeat(88000)}x`);
    const c = timed(`${head}rule ${'a'.repeat(88000)} (verdict drop`);
    expect([a.kind, b.kind, c.kind]).toEqual(['throws', 'verdict', 'throws']);
    // Generous for a loaded 2-core machine; the old code took 1 000-17 000 ms.
    for (const x of [a, b, c]) expect(x.ms).toBeLessThan(100);
  });
  it('the same records as before for the forms nft prints', () => {
    const h = 'trace id 3a1b ip filter INPUT ';
    expect(parseNftTraceLine(`${h}rule tcp dport 2571 counter packets 0 bytes 0 drop # handle 2 (verdict drop)`)).toMatchObject({ kind: 'rule', handle: 2, rule: 'tcp dport 2571 counter packets 0 bytes 0 drop', verdict: 'drop' });
    expect(parseNftTraceLine(`${h}rule meta nftrace set 1 (verdict continue)`)).toMatchObject({ kind: 'rule', handle: null, rule: 'meta nftrace set 1', verdict: 'continue' });
    expect(parseNftTraceLine(`${h}rule ct state (established) accept # handle 7 (verdict accept)`)).toMatchObject({ kind: 'rule', handle: 7, rule: 'ct state (established) accept', verdict: 'accept' });
    expect(parseNftTraceLine(`${h}rule jump x # handle 4 (verdict jump x)`)).toMatchObject({ kind: 'rule', handle: 4, verdict: 'jump x' });
    expect(parseNftTraceLine(`${h}unknown rule handle 9 (verdict drop)`)).toMatchObject({ kind: 'rule', handle: 9, rule: null, verdict: 'drop' });
    expect(parseNftTraceLine(`${h}policy accept `)).toMatchObject({ kind: 'policy', verdict: 'accept' });
    expect(parseNftTraceLine(`${h}verdict continue`)).toMatchObject({ kind: 'verdict', verdict: 'continue' });
    expect(() => parseNftTraceLine(`${h}policy`)).toThrow(/unknown trace record/);
  });
});

describe('text rendering escapes control characters', () => {
  it('escapes C0, DEL, C1 and doubles backslashes; leaves other text alone', () => {
    expect(escapeControls('eth0')).toBe('eth0');
    expect(escapeControls('a\x1b]0;pwned\x07b\\c\x9bd\x7fé')).toBe('a\\x1b]0;pwned\\x07b\\\\c\\x9bd\\x7fé');
  });
  it('a summary whose netns, detail and malformed example carry escapes prints none of them', () => {
    const s: FollowSummary = {
      schemaVersion: 1, type: 'summary', kernel: '6.18', target: 'local', filter: { netns: 'x\x1b[2J', proto: null, port: null, host: null, iface: 'e\x1b[31m' } as FollowSummary['filter'],
      sources: [{ name: 'nftrace', available: true, detail: 'd', ended: { atS: 1, reason: 'ended while following: `nft` exited 1: \x1b[2J', then: 'follow went on' } }],
      packets: 0, durationS: 1, lost: { kfreeSkb: 0, callbacks: 0, nftrace: 0, dropsNotDetailed: 0 }, flows: [],
      notKept: { flows: 0, packets: 0, conntrackEvents: 0, notPrinted: 0 }, malformed: [{ source: 'nft', count: 1, examples: ['\x1bc'] }], unavailable: [],
    };
    const text = renderFollowSummary(s, false);
    expect(text).not.toMatch(/\x1b/);
    expect(text).toMatch(/netns x\\x1b\[2J/);
    expect(text).toMatch(/ended at \+1\.0 s: ended while following: `nft` exited 1: \\x1b\[2J; follow went on/);
    expect(text).toMatch(/malformed: 1 line\(s\) of nft/);
  });
});
