import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseDrgnHooks } from '../../src/parsers/drgn-hooks.js';
import { parseBpftraceJson, printfLines } from '../../src/parsers/bpftrace-json.js';
import { parseBpftraceHooks } from '../../src/parsers/bpftrace-hooks.js';
import { ParseError } from '../../src/lib/errors.js';
import { ROOT } from '../helpers/sys.js';

/** Real captures by scripts/capture/vm-fixtures.mjs: drgn and nf_hooks.bt in the same netns of the micro-VM. */
const DRGN = join(ROOT, 'test/fixtures/drgn');
type H = { family: string; hook: string; device?: string; entries: { priority: number; callback: string }[] };
const view = (hs: H[]) => Object.fromEntries(hs.map((h) => [`${h.family} ${h.hook}${h.device ? ` ${h.device}` : ''}`, h.entries.map((e) => `${e.priority} ${e.callback}`)]));

describe.each(readdirSync(DRGN))('drgn nf_hooks.py output captured on %s', (k) => {
  const text = readFileSync(join(DRGN, k, 'conntrack-nft', 'stdout.jsonl'), 'utf8');
  it('agrees with the BTF walk of the same netns, netdev included', () => {
    const bt = parseBpftraceHooks(printfLines(parseBpftraceJson(readFileSync(join(ROOT, 'test/fixtures/bpftrace', k, 'conntrack-nft', 'stdout.jsonl'), 'utf8'))));
    const d = view(parseDrgnHooks(text));
    expect(d).toEqual(view(bt.hooks));
    expect(d['ipv4 LOCAL_IN']).toContain('2147483647 ipv4_confirm');
    expect(d['netdev INGRESS capa']).toEqual(['-5 nft_do_chain_netdev']);
  });
  it('damaged input: typed errors', () => {
    expect(() => parseDrgnHooks(text.slice(0, 40))).toThrow(ParseError);
    expect(() => parseDrgnHooks('{"family": "ipv9", "hook": 0, "priority": 1, "callback": "x"}')).toThrow(/unknown family/);
    expect(() => parseDrgnHooks('{"family": "arp", "hook": 7, "priority": 1, "callback": "x"}')).toThrow(/out of range/);
    expect(parseDrgnHooks('')).toEqual([]);
  });
});
