import { describe, expect, it } from 'vitest'
import { EventDeduplicator, EventSequencer, parseRequestFrame, validateRequest } from '../../src/shared/contract'

describe('contract validation', () => {
  it('accepts a well-formed request', () => {
    const result = validateRequest('genotypes.parse', { text: 'x' })
    expect(result.ok).toBe(true)
  })

  it('names the unknown operation and lists the known ones', () => {
    const result = validateRequest('runs.destroyEverything', {})
    expect(result).toMatchObject({ ok: false, error: { code: 'unknown-operation' } })
    if (!result.ok) expect(result.error.message).toContain('genotypes.parse')
  })

  it('names the bad field of a payload', () => {
    const result = validateRequest('genotypes.parse', { text: 42 })
    expect(result).toMatchObject({ ok: false, error: { code: 'invalid-request', field: 'payload.text' } })
  })

  it('rejects fields an operation does not take', () => {
    const result = validateRequest('app.info', { sneaky: true })
    expect(result).toMatchObject({ ok: false, error: { code: 'invalid-request' } })
  })

  it('explains frames that are not JSON or not envelopes, keeping the id when there is one', () => {
    expect(parseRequestFrame('{not json')).toMatchObject({ id: null, ok: false, error: { code: 'bad-message' } })
    const noOp = parseRequestFrame(JSON.stringify({ kind: 'request', id: 7, payload: {} }))
    expect(noOp).toMatchObject({ id: 7, ok: false, error: { code: 'bad-message', field: 'op' } })
  })
})

describe('event sequencing', () => {
  it('numbers events per run and drops replays on the receiving side', () => {
    const sequencer = new EventSequencer()
    const a0 = sequencer.stamp('run-a', 'log', { level: 'info', message: 'one' })
    const a1 = sequencer.stamp('run-a', 'log', { level: 'info', message: 'two' })
    const b0 = sequencer.stamp('run-b', 'log', { level: 'info', message: 'other run' })
    expect([a0.seq, a1.seq, b0.seq]).toEqual([0, 1, 0])
    const receiver = new EventDeduplicator()
    expect([a0, a1, a0, b0, a1].map((event) => receiver.accept(event))).toEqual([true, true, false, true, false])
  })
})
