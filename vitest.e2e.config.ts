import { defineConfig } from 'vitest/config'

// End-to-end tests: the built app in browser mode, driven in Debian's Chromium. Run after `npm run build`.
export default defineConfig({
  test: {
    include: ['test/e2e/**/*.e2e.test.ts'],
    environment: 'node',
    testTimeout: 180_000,
    hookTimeout: 180_000,
    fileParallelism: false,
    reporters: ['default']
  }
})
