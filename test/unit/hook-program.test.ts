import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fillNfHooks, listingPrograms, netdevOnly, TemplateError, withoutNetdev } from '../../src/programs/nf_hooks.js';
import { ROOT } from '../helpers/sys.js';

const TEMPLATE = readFileSync(join(ROOT, 'bpf/nf_hooks.bt'), 'utf8');
const FILLED = fillNfHooks(TEMPLATE, { chain: ['ffffffff81000010'], nat4: ['ffffffff81000020'], nat6: ['ffffffff81000040'], natChain: 'ffffffff81000030' });
const code = (p: string) => p.slice(p.indexOf('\nBEGIN {'));

describe('nf_hooks.bt cut into the listing programs (kernel/hook-program.ts)', () => {
  it('the slot walk without the netdev walk, and the netdev walk alone; each prints N and ends with Z', () => {
    const slots = withoutNetdev(FILLED);
    const netdev = netdevOnly(FILLED);
    expect(code(slots)).not.toMatch(/nf_hooks_ingress|printf\("D /);
    expect(code(slots)).toMatch(/printf\("S %lu %lu\\n"/);
    expect(code(slots)).toMatch(/@natp\[\$t\]/);
    expect(code(netdev)).not.toMatch(/printf\("[SECn] |@natp|while \(\$s < 18\)/);
    expect(code(netdev)).toMatch(/nf_hooks_ingress/);
    for (const p of [slots, netdev]) {
      expect(code(p)).toMatch(/printf\("N %lu\\n"/);
      expect(code(p)).toMatch(/printf\("Z\\n"\);\n {2}exit\(\);\n\}\s*$/);
    }
  });
  it('two programs only when the families ask for both walks, each with its own mask', () => {
    expect(listingPrograms(FILLED, 31).map((p) => p.params)).toEqual([['15'], ['16']]);
    expect(listingPrograms(FILLED, 1)).toEqual([{ text: withoutNetdev(FILLED), params: ['1'] }]);
    expect(listingPrograms(FILLED, 16)).toEqual([{ text: netdevOnly(FILLED), params: ['16'] }]);
  });
  it('a template that changed shape fails loudly', () => {
    expect(() => withoutNetdev(TEMPLATE.replace('  if (($mask & 16) != 0) {\n', '  if (($mask & 32) != 0) {\n'))).toThrow(TemplateError);
    expect(() => netdevOnly(TEMPLATE.replace('  $s = (uint64)0;\n  while ($s < 18) {\n', '  $s = 0;\n  while ($s < 18) {\n'))).toThrow(/slot walk/);
  });
});
