import { defineConfig } from 'vitest/config';

/**
 * `npm run test:faults`: the fault and load suite. Each story starts its own PostgreSQL and
 * Redis (so it can restart or kill them) and drives the real `billing` processes; the files run
 * one after another because each loads the whole machine.
 */
export default defineConfig({
  test: {
    include: ['test/faults/**/*.test.ts'],
    testTimeout: 300_000,
    hookTimeout: 120_000,
    pool: 'forks',
    fileParallelism: false,
  },
});
