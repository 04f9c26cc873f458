// Runs the engine worker from its TypeScript source, so tests exercise the real worker without a build.
import { register } from 'tsx/esm/api'

register()
await import('../../src/main/engine-host/worker.ts')
