import { defineConfig } from 'vitest/config';

// `npm run test:unit`: the pure tests (parsers, model, analysis, renderers on captured fixtures),
// for everyday work: no root, no kernel state, seconds. Files run in parallel, and without a fresh
// module registry each (isolate: false): a third of the time here, where importing dominated; a
// file that changes process state puts it back (boot-cache.test.ts). package.json passes
// --configLoader runner: the config is not bundled into node_modules, which a user other than
// its owner may not write.
// Left to the whole suite (`npm test`, scripts/test.sh), for their time or what they touch:
export const SLOW_OR_MACHINE = [
  'test/unit/fuzz-options.test.ts', // ~1 min in-process and hundreds of runs of the built CLI
  'test/unit/fuzz-parsers.test.ts', // ~30 s of generated input per parser
  'test/unit/schemas.test.ts', // regenerates every schema from the types (a TypeScript program): ~1 min
  'test/unit/auto-target.test.ts', // probes this machine's capabilities (root: tracefs)
];

export default defineConfig({
  test: {
    include: ['test/unit/**/*.test.ts'],
    exclude: SLOW_OR_MACHINE,
    globalSetup: ['test/helpers/global-setup.ts'],
    isolate: false,
    testTimeout: 20_000,
  },
});
