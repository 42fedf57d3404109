import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { ROOT } from '../helpers/sys.js';

// Parsers and models are pure: no I/O, no processes, no targets.
it.each(['src/parsers', 'src/model'])('%s imports no I/O', (dir) => {
  for (const f of readdirSync(join(ROOT, dir))) {
    const text = readFileSync(join(ROOT, dir, f), 'utf8');
    const imports = [...text.matchAll(/from '([^']+)'/g)].map((m) => m[1]);
    for (const i of imports) expect(i, `${dir}/${f}`).not.toMatch(/^node:|execa|zx|targets|tools/);
  }
});
