import { spawnSync } from 'node:child_process'
import { describe, expect, it } from 'vitest'
import { nativeAddonStatus } from '../../src/main/engine/native'
import { nativeSuite } from './compare'

const status = nativeAddonStatus()
const { skipReason } = nativeSuite('native addon in worker threads')

// The engine runs in a worker thread. Two workers load the addon, run multi-threaded convs and exit: the process must
// exit cleanly (before -z nodelete, Node unloaded the addon with the worker and OpenMP's threads crashed the process).
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads')
const addon = require(workerData)
const g = new Int32Array([2, 8, 8, 4, 8, 8, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1])
const x = new Float32Array(2 * 8 * 8 * 4).fill(1)
const w = new Float32Array(3 * 3 * 4 * 4).fill(1)
const y = new Float32Array(2 * 8 * 8 * 4)
for (let i = 0; i < 20; i++) addon.conv2dForward(x, w, y, g)
parentPort.postMessage(y[(4 * 8 + 4) * 4])
`
const SCRIPT = `
const { Worker } = require('node:worker_threads')
for (let i = 0; i < 2; i++) {
  const w = new Worker(${JSON.stringify(WORKER)}, { eval: true, workerData: process.argv[1] })
  w.on('message', (m) => { if (m !== 36) { console.error('bad value', m); process.exit(2) } })
}
`

describe.skipIf(!status.available)(`native addon in worker threads${skipReason}`, () => {
  it('loads and runs in two workers, and the process exits cleanly (three times)', () => {
    if (!status.available) return
    for (let run = 0; run < 3; run++) {
      const child = spawnSync(process.execPath, ['-e', SCRIPT, status.path], {
        encoding: 'utf8',
        env: { ...process.env, OMP_NUM_THREADS: '2' },
        timeout: 60_000
      })
      expect(child.stderr).toBe('')
      expect(child.signal).toBeNull()
      expect(child.status).toBe(0)
    }
  })
})
