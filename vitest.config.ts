import { defineConfig } from 'vitest/config';

// Tests that touch the kernel (netns, nft, bpftrace) run one file at a time:
// on a 2-core machine parallel BPF verification and netns churn only add noise.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/helpers/global-setup.ts'],
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
