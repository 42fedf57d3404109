/**
 * bpf/ contracts: each program has a NAME_example.txt (as bpftrace's tools
 * do), and what it quotes is a real run: the fixture it names still holds
 * those lines (scripts/capture/bpf-examples.mjs writes the examples).
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/sys.js';

describe('bpf/*_example.txt', () => {
  const programs = readdirSync(join(ROOT, 'bpf')).filter((f) => f.endsWith('.bt')).map((f) => f.slice(0, -3));
  it.each(programs)('%s.bt has an example from a real run, regenerated as the script writes it', async (p) => {
    const file = join(ROOT, 'bpf', `${p}_example.txt`);
    expect(existsSync(file), `${file} missing`).toBe(true);
    const text = readFileSync(file, 'utf8');
    const source = /^Source: +(\S+)/m.exec(text)?.[1];
    expect(source, 'the example names its fixture').toBeTruthy();
    expect(existsSync(join(ROOT, source!, 'meta.json'))).toBe(true);
    const { EXAMPLES, example } = await import('../../scripts/capture/bpf-examples.mjs');
    const e = EXAMPLES.find((x: { program: string }) => x.program === p);
    // The example is exactly what the fixture gives today: no hand edits, no invented lines.
    expect(text).toBe(example(e));
    expect(text).toMatch(/^Kernel: +\S+/m);
    expect(text).toMatch(/^Tool: +bpftrace v?0\.\d+/m);
  });
});
