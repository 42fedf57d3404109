/**
 * Issue 14's bugs, each with a test that failed before its fix.
 */
import { describe, expect, it } from 'vitest';
import { nfscope } from '../helpers/sys.js';
import { span } from '../../src/model/lifetimes.js';

describe('issue 14 bugs', () => {
  it('hooks --netns X --all-netns --target qemu: exit 2 before any VM boots', async () => {
    const t0 = Date.now();
    const r = await nfscope(['hooks', '--netns', 'x', '--all-netns', '--target', 'qemu']);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/exclude each other/);
    expect(r.stderr).not.toMatch(/booting/);
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it('lifetimes aliveAgeUs (span) takes as many live entries as the kernel map holds', () => {
    const ages = Array.from({ length: 262144 }, (_, i) => 262144 - i + 0.4);
    expect(() => Math.min(...ages)).toThrow(RangeError); // what it used, and why it changed
    expect(span(ages)).toEqual({ min: 1, max: 262144 });
    expect(span([])).toBeNull();
  });
});
