import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // The functions' cold-start deliverability check asks DNS and the providers' APIs in the background: off in tests
    // (they count what emulators receive), except where a test turns it on to test it.
    env: { MAILROUTE_DNS_CHECK: 'off' },
    // Fails the run when a test leaves a process it started running (test/leftover-processes.ts); keeps the run's
    // temporary files in a directory of its own, removed at the end (test/temporary-dir.ts).
    globalSetup: ['test/temporary-dir.ts', 'test/leftover-processes.ts'],
  },
});
