import { defineConfig } from 'vitest/config';

// The conformance tier: the unmodified upstream faas-cli and cron-connector against the local
// stack. Not part of `npm test` (it needs the tools and about two minutes); `.ci/run` runs it after.
export default defineConfig({
  test: {
    include: ['test/conformance/**/*.conformance.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // Every process the tier starts (the stack, the tools) is ended by the testkit, as in `npm test`.
    globalSetup: ['test/support/process-teardown.ts'],
    setupFiles: ['test/support/process-guard.ts'],
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
  },
});
