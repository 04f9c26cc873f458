import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import * as tf from '@tensorflow/tfjs-core'
import { beforeAll, describe, expect, it } from 'vitest'
import { initBackend } from '../../src/main/engine/backend'
import { archObjective } from '../../src/main/engine/jobs/search-job'
import { Supernet } from '../../src/main/engine/network'
import { crossEntropy } from '../../src/main/engine/train/loss'
import { parseGenotypeJson } from '../../src/shared/genotype'

const root = fileURLToPath(new URL('../..', import.meta.url))
const cli = join(root, 'src', 'main', 'cli', 'index.ts')
// A search small enough for a test: 32 + 32 images of 16×16, 3 cells of 2 channels, 4 steps per epoch.
const TINY = [
  'search',
  '--dataset',
  'synthetic:64?size=16&channels=1&classes=4',
  '--cells',
  '3',
  '--channels',
  '2',
  '--batch-size',
  '8',
  '--epochs',
  '2',
  '--checkpoint-every',
  '2',
  '--progress-every',
  '1',
  '--backend',
  'wasm',
  '--json'
]

function bnas(args: string[]): {
  done: Promise<{ code: number | null; output: string }>
  kill: () => void
  output: () => string
} {
  const child = spawn(process.execPath, ['--import', 'tsx', cli, ...args], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()))
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()))
  const done = new Promise<{ code: number | null; output: string }>((resolve) =>
    child.on('exit', (code) => resolve({ code, output }))
  )
  return { done, kill: () => child.kill('SIGKILL'), output: () => output }
}

function lastEpoch(run: string): { alphaNormal: number[][]; alphaReduce: number[][]; epoch: number } {
  const lines = readFileSync(join(run, 'epochs.jsonl'), 'utf8').trim().split('\n')
  return JSON.parse(lines[lines.length - 1]!) as { alphaNormal: number[][]; alphaReduce: number[][]; epoch: number }
}

/** A JSON-lines log without its wall-clock fields, which differ between any two runs. */
function withoutTimings(path: string): object[] {
  return readFileSync(path, 'utf8')
    .trim()
    .split('\n')
    .map((line) => {
      const { imagesPerSecond: _a, etaSeconds: _b, seconds: _c, ...rest } = JSON.parse(line) as Record<string, unknown>
      return rest
    })
}

describe('search runs', () => {
  it('resumed after kill -9 mid-epoch, ends with the same α as an uninterrupted run', async () => {
    const base = mkdtempSync(join(tmpdir(), 'bnas-resume-'))
    const whole = join(base, 'whole')
    const killed = join(base, 'killed')
    const uninterrupted = await bnas([...TINY, '--out', whole]).done
    expect(uninterrupted.code, uninterrupted.output).toBe(0)

    const victim = bnas([...TINY, '--out', killed])
    // Kill it after the checkpoint of step 2 and while step 3 is running: mid-epoch, mid-step.
    const deadline = Date.now() + 120_000
    while (!/"event":"progress".*"step":3/.test(victim.output())) {
      if (Date.now() > deadline) throw new Error(`no progress within 120 s:\n${victim.output()}`)
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    victim.kill()
    expect((await victim.done).code).toBeNull()
    expect(existsSync(join(killed, 'checkpoints', 'latest.ckpt'))).toBe(true)
    expect(JSON.parse(readFileSync(join(killed, 'run.json'), 'utf8')).status).toBe('running')

    const resumed = await bnas(['resume', killed, '--backend', 'wasm', '--json']).done
    expect(resumed.code, resumed.output).toBe(0)
    expect(resumed.output).toContain('resumed at epoch 1, step')
    const a = lastEpoch(whole)
    const b = lastEpoch(killed)
    expect(b.epoch).toBe(2)
    a.alphaNormal.flat().forEach((value, i) => expect(b.alphaNormal.flat()[i]).toBeCloseTo(value, 6))
    a.alphaReduce.flat().forEach((value, i) => expect(b.alphaReduce.flat()[i]).toBeCloseTo(value, 6))
    // The logs of the resumed run read as if it had never stopped.
    expect(withoutTimings(join(killed, 'metrics.jsonl'))).toEqual(withoutTimings(join(whole, 'metrics.jsonl')))
    expect(JSON.parse(readFileSync(join(killed, 'run.json'), 'utf8')).status).toBe('completed')
    expect(() => parseGenotypeJson(readFileSync(join(killed, 'genotype.json'), 'utf8'))).not.toThrow()
  }, 300_000)

  it('reports a corrupt checkpoint clearly and leaves it alone', async () => {
    const base = mkdtempSync(join(tmpdir(), 'bnas-corrupt-'))
    const run = join(base, 'run')
    const victim = bnas([...TINY, '--out', run])
    while (!existsSync(join(run, 'checkpoints', 'latest.ckpt'))) await new Promise((resolve) => setTimeout(resolve, 20))
    await new Promise((resolve) => setTimeout(resolve, 200))
    victim.kill()
    await victim.done
    const path = join(run, 'checkpoints', 'latest.ckpt')
    const bytes = readFileSync(path)
    bytes[bytes.length - 3] ^= 0x55
    writeFileSync(path, bytes)
    const resumed = await bnas(['resume', run, '--backend', 'wasm']).done
    expect(resumed.code).toBe(1)
    expect(resumed.output).toMatch(/checkpoint .*latest\.ckpt is damaged: its data does not match its checksum/)
    expect(readFileSync(path)).toEqual(bytes)
  }, 300_000)
})

describe('the α objective', () => {
  beforeAll(async () => {
    await initBackend('cpu')
  })

  it('is plain cross-entropy with λ = 0, and subtracts λ·exp(−t/τ)·H̄ otherwise', () => {
    const net = new Supernet({ cells: 3, channels: 2, classes: 3, inputChannels: 1, seed: 1 })
    tf.tidy(() => {
      const x = tf.randomNormal([2, 8, 8, 1], 0, 1, 'float32', 3) as tf.Tensor4D
      const y = tf.tensor1d([0, 2], 'int32')
      const ce = crossEntropy(net.logits(x, { training: true }), y).dataSync()[0]!
      const h = net.meanEdgeEntropy().dataSync()[0]!
      expect(archObjective(net, x, y, 0).dataSync()[0]).toBeCloseTo(ce, 5)
      expect(archObjective(net, x, y, 0.5).dataSync()[0]).toBeCloseTo(ce - 0.5 * h, 5)
      expect(h).toBeCloseTo(Math.log(7), 4)
    })
    net.dispose()
  })
})
