import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { defineConfig } from 'electron-vite'
import vue from '@vitejs/plugin-vue'

const { version } = JSON.parse(readFileSync(resolve(__dirname, 'package.json'), 'utf8')) as { version: string }
const define = { __APP_VERSION__: JSON.stringify(version) }

// zod ships `@__PURE__` comments in places Rollup cannot use; the warning says nothing about our code.
const onwarn = (warning: { code?: string }, warn: (warning: never) => void): void => {
  if (warning.code !== 'INVALID_ANNOTATION') warn(warning as never)
}

export default defineConfig({
  main: {
    define,
    build: {
      rollupOptions: {
        // Three programs share the main-process code: the Electron main process, the `bnas` command line
        // and the engine worker thread (which both of the others start).
        input: {
          index: resolve(__dirname, 'src/main/index.ts'),
          cli: resolve(__dirname, 'src/main/cli/index.ts'),
          'engine-worker': resolve(__dirname, 'src/main/engine-host/worker.ts'),
          // One cluster job's engine, started by `bnas worker` (src/main/cluster/job-thread-host.ts).
          'cluster-job-thread': resolve(__dirname, 'src/main/cluster/job-thread.ts')
        },
        // Dev-only tools, loaded by `bnas serve --dev` from node_modules, never bundled.
        external: ['vite', '@vitejs/plugin-vue'],
        onwarn,
        output: { entryFileNames: '[name].js', chunkFileNames: 'chunks/[name]-[hash].js' }
      }
    }
  },
  preload: {
    build: {
      rollupOptions: {
        // Sandboxed preloads cannot be ES modules: emit CommonJS.
        output: { format: 'cjs', entryFileNames: '[name].cjs' },
        onwarn
      }
    }
  },
  renderer: {
    root: resolve(__dirname, 'src/renderer'),
    define,
    plugins: [vue()],
    build: {
      rollupOptions: { input: resolve(__dirname, 'src/renderer/index.html'), onwarn }
    }
  }
})
