/**
 * The hook listing server's pure halves: the program made from nf_hooks.bt,
 * and the naming of its addresses from /proc/kallsyms. Fixtures: a real answer
 * and the kallsyms lines read right after it (scripts/capture/hook-server.mjs,
 * meta.json beside each), on Debian's 6.1 in the micro-VM and the 6.18 host.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/sys.js';
import { ALL_FAMILIES, hookServerProgram, TemplateError } from '../../src/programs/nf_hooks_server.js';
import { fillNfHooks } from '../../src/programs/nf_hooks.js';
import { hookAddresses, kallsymsTable, nameHookAddresses } from '../../src/parsers/hook-addresses.js';
import { parseBpftraceHooks } from '../../src/parsers/bpftrace-hooks.js';
import { dropStackSource } from '../../src/analysis/graph.js';

const TEMPLATE = readFileSync(join(ROOT, 'bpf/nf_hooks.bt'), 'utf8');
const FIX = join(ROOT, 'test/fixtures/hook-server');

describe('hookServerProgram', () => {
  it('turns the BEGIN walk into a prctl-triggered one, framed, root only, with addresses for ksym()', () => {
    const p = hookServerProgram(TEMPLATE, ALL_FAMILIES, '12345');
    // Its own token only: another run's requests (nfshk + another token) are not walked here.
    expect(p).toContain('tracepoint:syscalls:sys_enter_prctl /uid == 0 && strncmp(comm, "nfshk12345", 10) == 0/ {');
    expect(p).toContain('$mask = (uint64)31;');
    expect(p).toContain('printf("B %s\\n", comm);');
    expect(p.trimEnd().endsWith('printf("Z %s\\n", comm);\n}')).toBe(true);
    // No tracepoint args (clang-built struct: +7 s of compile under TCG), no ksym, no $1, no exit.
    expect(p.slice(p.indexOf('\nBEGIN {'))).not.toMatch(/args->|ksym\(|\$1|exit\(\)/);
    expect(p).toContain('printf("E %d 0x%lx\\n"');
    expect(p).toContain('printf("D %d %lu %d 0x%lx %s\\n"');
    expect(p).toContain('while ($s < 18) {');
  });
  it('leaves out the families it will not serve', () => {
    const v4 = hookServerProgram(TEMPLATE, 1, '12345');
    expect(v4).toContain('while ($s < 5) {');
    expect(v4).toContain('$mask = (uint64)1;');
    const code = (p: string) => p.slice(p.indexOf('\nBEGIN {'));
    expect(code(v4)).not.toMatch(/nf_hooks_ingress|printf\("D /);
    expect(hookServerProgram(TEMPLATE, 3, '12345')).toContain('while ($s < 10) {');
    expect(code(hookServerProgram(TEMPLATE, 1 | 16, '12345'))).toMatch(/\$dev->nf_hooks_ingress/);
  });
  it('with chain names filled, the n record prints an address too', () => {
    const filled = fillNfHooks(TEMPLATE, { chain: ['ffffffff81000010'], nat4: ['ffffffff81000020'], nat6: [], natChain: 'ffffffff81000030' });
    const p = hookServerProgram(filled, ALL_FAMILIES, '12345');
    expect(p).toContain('printf("n %lu %d 0x%lx\\n"');
    expect(p).not.toMatch(/ksym\(/);
  });
  it('a template that changed shape fails loudly, never a silent half-edit', () => {
    expect(() => hookServerProgram(TEMPLATE.replace('ksym($fn)', 'ksym($fn) '), ALL_FAMILIES, '12345'))
      .toThrow(TemplateError);
    // A token that is not 5 digits never reaches the program text.
    expect(() => hookServerProgram(TEMPLATE, ALL_FAMILIES, '1234"); exit(); //')).toThrow(/token: 5 digits/);
    expect(() => hookServerProgram(TEMPLATE.replace(/exit\(\);\n\}\s*$/, '}\n'), ALL_FAMILIES, '12345')).toThrow(/final Z record and exit/);
  });
});

describe.each(readdirSync(FIX))('naming a real answer (%s)', (kernel) => {
  const answer = readFileSync(join(FIX, kernel, 'answer.txt'), 'utf8').trimEnd().split('\n');
  const kallsyms = readFileSync(join(FIX, kernel, 'kallsyms.txt'), 'utf8');
  const expected = JSON.parse(readFileSync(join(FIX, kernel, 'expected.json'), 'utf8'));
  it('every address is named from kallsyms, and the listing parses to what nfscope reported', () => {
    const addrs = hookAddresses(answer);
    expect(addrs.length).toBeGreaterThan(0);
    const named = nameHookAddresses(answer, kallsymsTable(kallsyms));
    expect(named.unnamed).toEqual([]);
    expect(named.lines.join('\n')).not.toMatch(/0x[0-9a-f]/);
    const hooks = parseBpftraceHooks(named.lines).hooks;
    expect(hooks.filter((h) => h.family === 'ipv4')).toEqual(expected);
    // The conntrack callbacks the kernel registered are there by name, with their module's owner.
    const pre = hooks.find((h) => h.hook === 'PRE_ROUTING')!.entries;
    expect(pre.some((e) => e.conntrack && e.owner === 'conntrack')).toBe(true);
  });
  it('expected.json (nfscope\'s listing in that run) is what the raw answer and kallsyms say, read here by hand', () => {
    // ipv4's slots are 0..4 in NF_INET order; each E line is "E priority address"; the name is the
    // kallsyms line at exactly that address. Nothing of nfscope's parsing or naming is used.
    const HOOKS = ['PRE_ROUTING', 'LOCAL_IN', 'FORWARD', 'LOCAL_OUT', 'POST_ROUTING'];
    const byAddr = new Map(kallsyms.split('\n').filter(Boolean).map((l) => {
      const [addr, , name] = l.split(/\s+/);
      return [BigInt(`0x${addr}`), name!];
    }));
    const raw: string[] = [];
    let slot = -1;
    for (const l of answer) {
      const f = l.split(' ');
      if (f[0] === 'S') slot = Number(f[1]);
      else if (f[0] === 'E' && slot >= 0 && slot < 5) raw.push(`${HOOKS[slot]} ${f[1]} ${byAddr.get(BigInt(f[2]!))}`);
    }
    const listed = (expected as { hook: string; entries: { priority: number; callback: string }[] }[])
      .flatMap((h) => h.entries.map((e) => `${h.hook} ${e.priority} ${e.callback}`));
    expect(raw.length).toBeGreaterThan(0);
    expect(listed).toEqual(raw);
  });
  it('an address no symbol starts at stays an address (a reloaded module is never misnamed)', () => {
    // Every symbol moved by 0x40, as after a module reload: no nearest-symbol guess.
    const moved = kallsyms.replace(/^([0-9a-f]{16})/gm, (a) => (BigInt(`0x${a}`) + 0x40n).toString(16).padStart(16, '0'));
    const named = nameHookAddresses(answer, kallsymsTable(moved));
    expect(named.unnamed.length).toBe(hookAddresses(answer).length);
    expect(named.lines).toEqual(answer);
  });
});

describe('dropStackSource', () => {
  const drop = (stack: string[]) => ({ nsecs: 1n, reasonCode: 7, location: 'x', ipVersion: 4 as const, skb: 'ff', stack });
  const map = [{ map: '@stacks', frames: ['a+1', 'b+2'], extra: null, count: 3 }];
  it('the @stacks map when bpftrace printed it', () => {
    expect(dropStackSource(map, [drop(['z+1'])])).toBe(map);
  });
  it('else the stacks printed with each drop, when every drop was printed with its stack', () => {
    expect(dropStackSource([], [drop(['a+1', 'b+2']), drop(['a+1', 'c+3'])])).toEqual([
      { map: '@stacks', frames: ['a+1', 'b+2'], extra: null, count: 1 },
      { map: '@stacks', frames: ['a+1', 'c+3'], extra: null, count: 1 },
    ]);
  });
  it('nothing when some drops were only counted (more than 16) or came without a stack', () => {
    expect(dropStackSource([], Array.from({ length: 17 }, () => drop(['a+1'])))).toEqual([]);
    expect(dropStackSource([], [drop([])])).toEqual([]);
  });
});
