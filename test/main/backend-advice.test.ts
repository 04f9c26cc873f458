import { describe, expect, it } from 'vitest'
import { describeBackends } from '../../src/main/engine/backend'
import { adviceFor } from '../../src/main/engine/backend/advice'

/** What the Start page and `bnas backends` tell a user to do about a backend that is not used. */
describe('backend advice', () => {
  it('says what to install for each backend that is missing, and nothing for one that runs', () => {
    const missing = (name: string, reason: string) => adviceFor({ name, description: name, available: false, reason })
    expect(missing('tensorflow-gpu', '@tensorflow/tfjs-node-gpu is not installed')).toMatch(
      /npm install @tensorflow\/tfjs-node-gpu.*CUDA|CUDA.*npm install @tensorflow\/tfjs-node-gpu/
    )
    expect(missing('tensorflow', '@tensorflow/tfjs-node is not installed')).toContain(
      'npm install @tensorflow/tfjs-node'
    )
    expect(missing('native', 'the native addon is not built')).toContain('libdnnl-dev')
    expect(missing('webgpu', 'the webgpu package (Dawn) cannot load here: x')).toContain('npm install webgpu')
    expect(adviceFor({ name: 'native', description: '', available: true })).toBeUndefined()
    expect(adviceFor({ name: 'webgpu', description: '', available: true, notAuto: 'software adapter (x)' })).toMatch(
      /hardware GPU/
    )
  })

  it('comes with every backend `bnas backends` reports as not used here', async () => {
    const backends = await describeBackends()
    for (const backend of backends) {
      const unused = !backend.available || backend.notAuto !== undefined
      if (unused && backend.name !== 'cpu' && backend.name !== 'wasm') expect(backend.advice).toBeTruthy()
      if (!unused) expect(backend.advice).toBeUndefined()
    }
  })
})
