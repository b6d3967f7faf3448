import { defineConfig } from 'vitest/config';

// A run of its own for testkit-processes.test.ts: one test that times out while its processes hang.
export default defineConfig({
  test: {
    include: ['test/support/process-guard-case/*.case.ts'],
    setupFiles: ['test/support/process-guard.ts'],
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
