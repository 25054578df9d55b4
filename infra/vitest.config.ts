import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Synthesizing a stack with cdk-nag takes seconds on two cores.
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
