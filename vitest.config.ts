import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/pg-global-setup.ts', 'test/support/process-teardown.ts'],
    setupFiles: ['test/support/network-guard.ts', 'test/support/process-guard.ts'],
    testTimeout: 20_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Test files in a worker share its loaded modules: importing the Kubernetes client, the AWS SDK
    // and the functions again for each of about 200 files took half of the suite's time. Each file
    // still gets its own database, simulator and processes; setup files are written to run again.
    isolate: false,
    env: {
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      AWS_CONFIG_FILE: '/dev/null',
      AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
    },
  },
});
