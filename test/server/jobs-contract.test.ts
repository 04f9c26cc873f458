import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { AppCore } from '../../src/main/app/app-core'
import type { AppEvent } from '../../src/shared/contract'
import { createTestAppCore, waitFor } from '../helpers/app-core'

let core: AppCore
const events: AppEvent[] = []

beforeAll(() => {
  core = createTestAppCore('browser', 'wasm')
  core.events.subscribe((event) => events.push(event))
})

afterAll(async () => {
  await core?.stop()
})

const call = (op: string, payload: unknown) => core.dispatcher.dispatch(op, payload)

describe('jobs through the contract (real engine worker)', () => {
  it('inspects a dataset', async () => {
    const result = await call('datasets.inspect', { spec: 'synthetic:40?size=8&channels=1&classes=4', samples: 2 })
    expect(result).toMatchObject({
      ok: true,
      value: { kind: 'synthetic', inputShape: [8, 8, 1], splits: { train: { count: 40 } } }
    })
  })

  it('explains a dataset that cannot be read, naming the field', async () => {
    expect(await call('datasets.inspect', { spec: 'cifar10:/no/such/folder' })).toMatchObject({
      ok: false,
      error: { code: 'failed' }
    })
    expect(await call('datasets.inspect', { spec: 'nonsense' })).toMatchObject({
      ok: false,
      error: { code: 'invalid-request', field: 'payload.spec' }
    })
  })

  it('runs a search, reports it with run id and sequence numbers, and lists it', async () => {
    const config = {
      dataset: 'synthetic:32?size=8&channels=1&classes=4',
      cells: 3,
      channels: 2,
      batchSize: 8,
      epochs: 1,
      progressEvery: 1
    }
    const started = await call('search.start', { config })
    expect(started.ok).toBe(true)
    const { runId } = (started as { ok: true; value: { runId: string } }).value
    const busy = await call('search.start', { config })
    expect(busy).toMatchObject({ ok: false, error: { message: expect.stringContaining('is still running') } })
    await waitFor(
      () => events.find((e) => e.runId === runId && e.type === 'job.status' && e.payload.status === 'completed'),
      120_000,
      'search to complete'
    )
    const ofRun = events.filter((e) => e.runId === runId)
    expect(ofRun.map((e) => e.seq)).toEqual(ofRun.map((_, i) => i))
    expect(ofRun.some((e) => e.type === 'job.progress')).toBe(true)
    expect(ofRun.find((e) => e.type === 'job.epoch')?.payload).toMatchObject({
      epoch: 1,
      genotype: { normalConcat: [2, 3, 4, 5] }
    })

    const list = await call('runs.list', {})
    expect(list).toMatchObject({
      ok: true,
      value: [{ id: runId, kind: 'search', status: 'completed', epochsDone: 1, active: false }]
    })
    const detail = await call('runs.get', { runId })
    expect(detail).toMatchObject({ ok: true, value: { summary: { id: runId }, epochs: [{ epoch: 1 }] } })
    expect(await call('runs.delete', { runId })).toMatchObject({ ok: true })
    expect(await call('runs.list', {})).toMatchObject({ ok: true, value: [] })
  })

  it('refuses run ids that try to leave the runs folder', async () => {
    for (const runId of ['../etc', '..', 'a/b', '/etc/passwd', '.hidden']) {
      expect(await call('runs.delete', { runId }), runId).toMatchObject({
        ok: false,
        error: { code: 'invalid-request', field: 'payload.runId' }
      })
    }
    expect(await call('runs.get', { runId: 'search-never-was' })).toMatchObject({
      ok: false,
      error: { code: 'failed' }
    })
  })

  it('answers desktop-only requests in browser mode with what to do instead', async () => {
    const folder = await call('desktop.chooseFolder', {})
    expect(folder).toMatchObject({
      ok: false,
      error: { code: 'failed', message: expect.stringContaining('type the path instead') }
    })
    expect(await call('desktop.revealRun', { runId: '../..' })).toMatchObject({
      ok: false,
      error: { code: 'invalid-request' }
    })
  })
})
