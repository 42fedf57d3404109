import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { dropReasonNames } from '../../src/kernel/drop-reasons.js';
import type { Target } from '../../src/targets/target.js';
import { ROOT } from '../helpers/sys.js';

// The format as 6.18's tracefs printed it (fixture: argv and kernel in meta.json beside it).
const DIR = join(ROOT, 'test/fixtures/tracepoint-format/6.18.44-fc-v1300/kfree_skb');
const format = readFileSync(join(DIR, 'format.txt'), 'utf8');

/** A target whose only answer is a read of one file: `text`, or null (the file's own "absent"). */
function reading(text: string | null | Error): { target: Target; asked: string[] } {
  const asked: string[] = [];
  const target = {
    readFile: async (path: string) => {
      asked.push(path);
      if (text instanceof Error) throw text;
      return text;
    },
  } as unknown as Target;
  return { target, asked };
}

describe('the names of kfree_skb reasons (kernel/drop-reasons.ts)', () => {
  it('named from the format this kernel printed', async () => {
    const { target, asked } = reading(format);
    const r = await dropReasonNames(target, '/sys/kernel/tracing');
    expect(asked).toEqual(['/sys/kernel/tracing/events/skb/kfree_skb/format']);
    expect(r.why).toBeNull();
    const meta = JSON.parse(readFileSync(join(DIR, 'meta.json'), 'utf8')) as { kernel: string };
    expect(meta.kernel).toBe('6.18.44-fc-v1300');
    // On 6.18 NETFILTER_DROP is 12 (7 on 6.1): read from the format, never from a table of nfscope's.
    expect(format).toContain('{ 12, "NETFILTER_DROP" }');
    expect(r.names.get(12)).toBe('NETFILTER_DROP');
  });
  it('a format that is not there gives no names, and says why (the report shows numbers with it)', async () => {
    const r = await dropReasonNames(reading(null).target, '/t');
    expect(r.names.size).toBe(0);
    expect(r.why).toMatch(/\/t\/events\/skb\/kfree_skb\/format is not there or not readable here: drop reasons are shown as numbers/);
  });
  it('a read that failed otherwise is a failure, not "no names"', async () => {
    await expect(dropReasonNames(reading(new Error('agent: timed out after 20 s')).target, '/t')).rejects.toThrow(/timed out/);
  });
});
