import { mkdtempSync, readFileSync, truncateSync, writeFileSync, appendFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { CheckpointError, readCheckpoint, writeCheckpoint } from '../../src/main/runs/checkpoint-file'
import { RunFolder } from '../../src/main/runs/run-folder'

const tempDir = (): string => mkdtempSync(join(tmpdir(), 'bnas-run-'))

const manifest = {
  id: 'r1',
  kind: 'search' as const,
  createdAt: '2026-01-01T00:00:00.000Z',
  status: 'running' as const,
  appVersion: 'test',
  config: { seed: 1 }
}

describe('checkpoint files', () => {
  const contents = {
    state: { epoch: 3, step: 120, rng: [1, 2, 3, 4] },
    tensors: [
      {
        name: 'stem.conv.weight',
        shape: [3, 3, 3, 4],
        data: Float32Array.from({ length: 108 }, (_, i) => Math.sin(i) * 1e3)
      },
      { name: 'alpha.normal', shape: [14, 7], data: Float32Array.from({ length: 98 }, (_, i) => -i / 7) },
      { name: 'empty', shape: [0], data: new Float32Array(0) }
    ]
  }

  it('round-trips state and tensors exactly', async () => {
    const path = join(tempDir(), 'latest.ckpt')
    await writeCheckpoint(path, contents)
    const back = await readCheckpoint<typeof contents.state>(path)
    expect(back.state).toEqual(contents.state)
    expect(back.tensors.map((t) => [t.name, t.shape])).toEqual(contents.tensors.map((t) => [t.name, t.shape]))
    back.tensors.forEach((tensor, i) => expect(Array.from(tensor.data)).toEqual(Array.from(contents.tensors[i]!.data)))
  })

  it('reports a missing, truncated, damaged or foreign file instead of loading it', async () => {
    const dir = tempDir()
    await expect(readCheckpoint(join(dir, 'nope.ckpt'))).rejects.toThrow(/nope\.ckpt does not exist/)
    const path = join(dir, 'latest.ckpt')
    await writeCheckpoint(path, contents)
    const size = readFileSync(path).length
    truncateSync(path, size - 10)
    await expect(readCheckpoint(path)).rejects.toThrow(/truncated/)
    await writeCheckpoint(path, contents)
    const bytes = readFileSync(path)
    bytes[bytes.length - 5] ^= 0xff
    writeFileSync(path, bytes)
    await expect(readCheckpoint(path)).rejects.toThrow(/does not match its checksum/)
    writeFileSync(path, 'PK\u0003\u0004 something else entirely')
    await expect(readCheckpoint(path)).rejects.toBeInstanceOf(CheckpointError)
  })
})

describe('run folders', () => {
  it('refuses to reuse a folder that holds anything', async () => {
    const dir = tempDir()
    writeFileSync(join(dir, 'precious.txt'), 'keep me')
    await expect(RunFolder.create(dir, manifest)).rejects.toThrow(/is not empty/)
    expect(readFileSync(join(dir, 'precious.txt'), 'utf8')).toBe('keep me')
  })

  it('says clearly when a folder is not a run', async () => {
    await expect(RunFolder.open(join(tempDir(), 'missing'))).rejects.toThrow(/does not exist/)
    await expect(RunFolder.open(tempDir())).rejects.toThrow(/is not a BNAS Studio run/)
  })

  it('keeps append-only logs, drops a half-written last line, and truncates to a checkpoint on resume', async () => {
    const folder = await RunFolder.create(join(tempDir(), 'run'), manifest)
    for (let step = 1; step <= 5; step++) await folder.appendJsonLine('metrics', { step, loss: 1 / step })
    appendFileSync(folder.file('metrics'), '{"step": 6, "lo') // kill -9 mid-write
    expect((await folder.readJsonLines<{ step: number }>('metrics')).map((r) => r.step)).toEqual([1, 2, 3, 4, 5])
    await folder.truncateAfterStep(3)
    expect((await folder.readJsonLines<{ step: number }>('metrics')).map((r) => r.step)).toEqual([1, 2, 3])
    const updated = await folder.updateManifest({ status: 'failed', message: 'out of memory' })
    expect(updated).toMatchObject({ status: 'failed', message: 'out of memory' })
    expect((await folder.readManifest()).status).toBe('failed')
  })
})
