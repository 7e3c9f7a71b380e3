import { defineConfig } from 'vitest/config';

/** The pure domain tests alone: no PostgreSQL, no Redis. */
export default defineConfig({
  test: { include: ['test/domain/**/*.test.ts'] },
});
