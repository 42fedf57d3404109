import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConntrackCount, parseConntrackStats } from '../../src/parsers/conntrack-stats.js';
import { ParseError } from '../../src/lib/errors.js';
import { ROOT } from '../helpers/sys.js';

/** Real `conntrack -S` / `-C` of a netns after 3 connections (scripts/capture/conntrack-stats.sh; meta.json beside). */
const DIR = join(ROOT, 'test/fixtures/conntrack-stats');

describe.each(readdirSync(DIR))('conntrack -S and -C captured on %s', (kernel) => {
  const read = (what: string, f: string) => readFileSync(join(DIR, kernel, what, f), 'utf8');
  const meta = JSON.parse(read('stats', 'meta.json')) as { cpus: number };

  it('one line per CPU of the machine, every counter summed, drop and early_drop among them', () => {
    const s = parseConntrackStats(read('stats', 'stdout.txt'));
    expect(s.cpus).toBe(meta.cpus);
    expect(s.lines).toHaveLength(meta.cpus);
    expect(Object.keys(s.totals)).toEqual(expect.arrayContaining(['drop', 'early_drop', 'insert_failed']));
    // The netns had room and no clash: nothing dropped or evicted.
    expect(s.totals.drop).toBe(0);
    expect(s.totals.early_drop).toBe(0);
  });

  it('the count is the workload\'s 3 connections', () => {
    expect(parseConntrackCount(read('count', 'stdout.txt'))).toBe(3);
  });
});

describe('conntrack -S of another shape is an error, never zeros', () => {
  it.each([
    ['', 'no CPU line'],
    ['cpu=0 found=1 drop=x', 'not key=number pairs'],
    ['entries=3 found=1', 'does not start with cpu='],
  ])('%j', (text, why) => {
    expect(() => parseConntrackStats(text)).toThrow(ParseError);
    expect(() => parseConntrackStats(text)).toThrow(why);
  });
  it('a count that is not a number', () => {
    expect(() => parseConntrackCount('conntrack v1.4.7: Operation not permitted\n')).toThrow(ParseError);
  });
});
