/**
 * Issue 26: output that may run for hours is kept in bounded buffers that count what they let go;
 * the agent protocol's host side refuses lines and nesting no agent message has.
 */
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { ByteTail, LineSplitter } from '../../src/lib/bounded.js';
import { Counted, Ring } from '../../src/model/bounded.js';
import { AgentClient, MAX_AGENT_DEPTH } from '../../src/vm/agent-client.js';
import { LocalTarget } from '../../src/targets/local.js';

describe('ByteTail', () => {
  it('keeps the last maxBytes and counts every byte before them', () => {
    const t = new ByteTail(10);
    for (let i = 0; i < 7; i++) t.push(Buffer.from(`ab${i}`));
    // 21 bytes in, 10 kept: "3ab4ab5ab6" minus its first byte.
    // 21 bytes in (ab0ab1…ab6), the last 10 kept.
    expect(t.text()).toBe('[11 earlier bytes not kept]\n3ab4ab5ab6');
  });
  it('whole when under the bound, with no note', () => {
    const t = new ByteTail(100);
    t.push(Buffer.from('err\n'));
    expect([t.text(), t.dropped]).toEqual(['err\n', 0]);
  });
});

describe('LineSplitter', () => {
  it('lines across chunks, each once, and the last one without its newline at the end', () => {
    const got: string[] = [];
    const s = new LineSplitter((l) => got.push(l));
    for (const c of ['a', 'b\nc', 'd\n\ne', 'f']) s.push(c);
    s.end();
    expect(got).toEqual(['ab', 'cd', '', 'ef']);
  });
  it('a line longer than maxLine is counted and not handed on, cut or whole; the next one is', () => {
    const got: string[] = [];
    const s = new LineSplitter((l) => got.push(l), 8);
    s.push('short\n0123456');
    s.push('789abcdef');
    s.push('more\nnext\n');
    s.push('x'.repeat(20) + '\nok');
    s.end();
    expect(got).toEqual(['short', 'next', 'ok']);
    expect(s.overlong).toBe(2);
  });
});

describe('Counted and Ring', () => {
  it('Counted counts all and keeps the first few, cut', () => {
    const c = new Counted(2, 5);
    for (const x of ['one', 'a long example', 'three']) c.add(x);
    expect(c.toJSON()).toEqual({ count: 3, examples: ['one', 'a lon… (14 chars)'] });
  });
  it('Ring keeps the last n, oldest first, and counts the rest', () => {
    const r = new Ring<number>(3);
    for (let i = 1; i <= 7; i++) r.push(i);
    expect([r.values(), r.dropped]).toEqual([[5, 6, 7], 4]);
  });
});

describe('a streamed local process', () => {
  it('hands stdout on line by line, keeps its last 64 KiB only, and bounds stderr the same way', async () => {
    const t = new LocalTarget();
    // 200k lines of 10 bytes on stdout, 1 MB on stderr: what `nft monitor` prints in seconds of a flood.
    const run = t.spawn(['python3', '-c', 'import sys\nfor i in range(200000): sys.stdout.write("%09d\\n" % i)\nsys.stderr.write("e" * 1000000 + "END\\n")'], { stream: true });
    let n = 0, last = '';
    run.onLine((l) => { n++; last = l; });
    const r = await run.done;
    expect(r.exitCode).toBe(0);
    expect([n, last]).toEqual([200000, '000199999']);
    expect(r.dropped).toEqual({ stdoutBytes: 2_000_000 - 65536, stderrBytes: 1_000_004 - 65536, overlongLines: 0 });
    expect(r.stdout.endsWith('000199999\n')).toBe(true);
    expect(r.stderr).toMatch(/^\[934468 earlier bytes not kept\]\ne+END\n$/);
  });
});

function agentPair() {
  const fromGuest = new PassThrough();
  const toGuest = new PassThrough();
  let hungUp = false;
  const c = new AgentClient();
  c.attach(fromGuest, toGuest, () => { hungUp = true; fromGuest.destroy(); });
  return { c, fromGuest, hungUp: () => hungUp };
}

describe('the agent protocol on the host side', () => {
  it('JSON nested deeper than any agent message fails the pending request with that reason, and hangs up', async () => {
    const { c, fromGuest, hungUp } = agentPair();
    const p = c.request('exec', ['true'], { timeout: 60_000 }).done;
    fromGuest.write(`${'['.repeat(MAX_AGENT_DEPTH + 1)}${']'.repeat(MAX_AGENT_DEPTH + 1)}\n`);
    const r = await p;
    expect(r.stderr).toBe(`the far side broke the agent protocol: a message nested deeper than ${MAX_AGENT_DEPTH}\n`);
    expect(hungUp()).toBe(true);
  });
  it('a line past the cap fails at once, before it ends, without buffering it', async () => {
    const { c, fromGuest } = agentPair();
    const p = c.request('exec', ['true'], { timeout: 60_000 }).done;
    const mb = 'x'.repeat(1 << 20);
    for (let i = 0; i < 33; i++) fromGuest.write(mb);
    const r = await p;
    expect(r.stderr).toBe('the far side broke the agent protocol: a line longer than 32 MiB\n');
  });
  it('noise that is not JSON is still skipped, and an answer after it is read', async () => {
    const { c, fromGuest } = agentPair();
    const { id, done } = c.request('exec', ['true'], { timeout: 60_000 });
    fromGuest.write('login: \n');
    fromGuest.write(`${JSON.stringify({ id, op: 'exit', code: 0, stdout: Buffer.from('hi').toString('base64'), stderr: '', timedOut: false, ms: 1 })}\n`);
    expect(await done).toMatchObject({ exitCode: 0, stdout: 'hi' });
  });
});
