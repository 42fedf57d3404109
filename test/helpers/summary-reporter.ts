/**
 * A vitest reporter for scripts/test.sh: vitest 4's JSON report has no per-test retry count, and
 * its per-file times leave out the file's import and beforeAll hooks. This writes both, per file
 * and per test, to test/artifacts/suite-summary.json (or NFSCOPE_SUMMARY_OUT), which test.sh reads.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, relative } from 'node:path';
import type { Reporter, TestModule } from 'vitest/node';

export default class SummaryReporter implements Reporter {
  onTestRunEnd(modules: ReadonlyArray<TestModule>): void {
    const files = modules.map((m) => {
      const d = m.diagnostic();
      const tests = [...m.children.allTests()].map((t) => ({
        name: t.fullName,
        state: t.result().state,
        retries: t.diagnostic()?.retryCount ?? 0,
      }));
      return {
        file: relative(process.cwd(), m.moduleId),
        // Wall time of the file: preparing, importing (collecting), setup files, then tests and hooks.
        seconds: (d.environmentSetupDuration + d.prepareDuration + d.collectDuration + d.setupDuration + d.duration) / 1000,
        state: m.state(),
        tests,
      };
    });
    const out = process.env.NFSCOPE_SUMMARY_OUT ?? 'test/artifacts/suite-summary.json';
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, JSON.stringify({ files }, null, 2) + '\n');
  }
}
