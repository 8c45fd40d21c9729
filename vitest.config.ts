import { defineConfig } from 'vitest/config';

// CI runs on 2 cores: test files that run models are CPU-heavy, so run files one at a time
// rather than oversubscribing the machine (see ../shared/docs/TOOLCHAIN.md). The JSON report is
// what .ci/run counts its closing "N passed, N failed" line from.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 120_000,
    reporters: ['default', ['json', { outputFile: 'test-results/vitest.json' }]],
  },
});
