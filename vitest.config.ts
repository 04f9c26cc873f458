import { defineConfig } from 'vitest/config'

// Unit and integration tests: real engine, real files, no browser. End-to-end tests have their own config.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/e2e/**', 'node_modules/**'],
    environment: 'node',
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // Test files run in parallel, one per core: one native kernel thread per process keeps 2 cores from being
    // oversubscribed (threaded kernels waiting on each other's slices are many times slower, not faster).
    env: { BNAS_NATIVE_THREADS: '1' },
    reporters: ['default']
  }
})
