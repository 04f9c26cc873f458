import { spawnSync } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PNG } from 'pngjs'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { createProgram } from '../../src/main/cli/program'
import { formatInferTable, runBenchInfer, runPredict } from '../../src/main/cli/commands/export'
import { initBackend } from '../../src/main/engine/backend'
import { nativeAddonStatus } from '../../src/main/engine/native/addon'
import type { FinalNetwork } from '../../src/main/engine/network'
import { argmaxRows, engineLogits, perturbedNetwork, savedRun } from './fixture'

const NATIVE = nativeAddonStatus().available
const SHAPE: [number, number, number] = [16, 16, 3]
let net: FinalNetwork
let runPath: string
let out: string

async function cli(...args: string[]): Promise<string> {
  const chunks: string[] = []
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
    chunks.push(String(chunk))
    return true
  })
  try {
    const program = createProgram('test').exitOverride()
    await program.parseAsync(['node', 'bnas', ...args])
  } finally {
    spy.mockRestore()
  }
  return chunks.join('')
}

beforeAll(async () => {
  await initBackend('cpu')
  net = perturbedNetwork({ cells: 3, channels: 4, classes: 5, seed: 11 })
  runPath = (await savedRun(net, SHAPE)).runPath
  out = await mkdtemp(join(tmpdir(), 'bnas-cli-'))
})

afterAll(async () => {
  net.dispose()
  await rm(runPath, { recursive: true, force: true })
  await rm(out, { recursive: true, force: true })
})

describe('bnas export / predict / bench infer', () => {
  it('exports every format and says how it was verified', async () => {
    expect(await cli('export', runPath, '--format', 'packed', '--out', join(out, 'm.bnpk'))).toMatch(
      /exported packed [\s\S]*verified with packed\/wasm-simd: 2 inputs, max \|Δlogit\| .* same predictions[\s\S]*1-bit \+ .* 32-bit parameters; BOPs .* as float32/
    )
    expect(await cli('export', runPath, '--format', 'onnx', '--out', join(out, 'm.onnx'))).toMatch(
      /verified with onnxruntime-node/
    )
    expect(await cli('export', runPath, '--format', 'tfjs', '--out', join(out, 'tfjs'))).toMatch(
      /verified with tfjs-layers/
    )
    expect(await cli('export', runPath, '--format', 'genotype', '--out', join(out, 'g.json'))).toMatch(/reads back/)
    await expect(cli('export', runPath, '--format', 'keras', '--out', join(out, 'x'))).rejects.toThrow(
      /--format must be one of genotype, tfjs, onnx, packed/
    )
  })

  it('predicts a PNG and a JSON pixel array the same with every exported model and the run itself', async () => {
    const png = new PNG({ width: 20, height: 20 })
    for (let i = 0; i < png.data.length; i++) png.data[i] = (i * 37) % 256
    await writeFile(join(out, 'img.png'), PNG.sync.write(png))
    const pixels = Array.from({ length: 16 * 16 * 3 }, (_, i) => (i * 11) % 256)
    await writeFile(join(out, 'img.json'), JSON.stringify(pixels))
    const x = new Float32Array(pixels.map((v, i) => (v / 255 - 0.5) / 0.25 + 0 * i))
    const expected = argmaxRows(engineLogits(net, x, 1, SHAPE), 5)[0]
    const models = [join(out, 'm.bnpk'), join(out, 'm.onnx'), join(out, 'tfjs'), runPath]
    const fromImage = new Set<number>()
    for (const model of models) {
      const byJson = await runPredict(model, join(out, 'img.json'))
      expect((byJson.prediction as { class: number }).class, model).toBe(expected)
      fromImage.add(((await runPredict(model, join(out, 'img.png'))).prediction as { class: number }).class)
    }
    expect(fromImage.size).toBe(1)
    await expect(runPredict(join(out, 'missing.bnpk'), join(out, 'img.json'))).rejects.toThrow(/no such model/)
  })

  it('bench infer reports packedMs, packedWasmMs, onnxMs and boundMs for a genotype or a model', async () => {
    const flags = {
      cells: '3',
      channels: '4',
      input: '16x16x3',
      classes: '5',
      macro: 'cifar',
      batch: '2',
      threads: '1',
      repeats: '2',
      json: true
    }
    const byGenotype = await runBenchInfer(undefined, { ...flags, genotype: 'latest_cell' })
    for (const key of ['packedMs', 'packedWasmMs', 'onnxMs', 'boundMs'] as const)
      expect(byGenotype[key]).toBeGreaterThan(0)
    expect(byGenotype.paths[byGenotype.packedPath]).toBe(byGenotype.packedMs)
    expect(byGenotype.paths['wasm-simd']).toBe(byGenotype.packedWasmMs)
    // The table names every path that was timed (native too, where the addon is built), each with its median.
    const table = formatInferTable(byGenotype)
    for (const [name, ms] of Object.entries(byGenotype.paths)) {
      if (name !== 'onnx') expect(table).toMatch(new RegExp(`packed ${name} +${ms.toFixed(2)} ms`))
      // Each path's fastest run: above 0, at most its median (2 rounds × 3 runs), and in the table beside it.
      expect(byGenotype.fastest[name]).toBeGreaterThan(0)
      expect(byGenotype.fastest[name]).toBeLessThanOrEqual(ms)
      expect(table).toContain(`fastest ${byGenotype.fastest[name].toFixed(2)} ms`)
    }
    const byModel = await runBenchInfer(join(out, 'm.bnpk'), flags)
    expect(byModel.network).toMatchObject({ cells: 3, channels: 4, inputShape: SHAPE })
    expect(
      JSON.parse(await cli('bench', 'infer', join(out, 'm.bnpk'), '--batch', '1', '--repeats', '1', '--json'))
    ).toHaveProperty('onnxMs')
  })

  it('bench infer from the command line: batches 1 and 2, bounds per path, and each runtime’s peak memory', async () => {
    const entry = join(__dirname, '../../src/main/cli/index.ts')
    const args = [
      'bench',
      'infer',
      join(out, 'm.bnpk'),
      '--batch',
      '1,2',
      '--repeats',
      '1',
      '--paths',
      'native,wasm-simd'
    ]
    const { stdout, status, stderr } = spawnSync(process.execPath, ['--import', 'tsx', entry, ...args, '--json'], {
      encoding: 'utf8'
    })
    expect(status, stderr).toBe(0)
    const report = JSON.parse(stdout.trim().split('\n').pop()!)
    expect(report.runs.map((r: { batch: number }) => r.batch)).toEqual([1, 2])
    for (const run of report.runs) {
      expect(Object.keys(run.paths).sort()).toEqual(NATIVE ? ['native', 'onnx', 'wasm-simd'] : ['onnx', 'wasm-simd'])
      expect(run.bounds['wasm-simd'].boundMs).toBeGreaterThan(0)
      if (NATIVE) {
        expect(run.bounds.native.boundMs).toBeGreaterThan(0)
        expect(run.speedup.native).toBeCloseTo(run.onnxMs / run.paths.native, 6)
        expect(Object.keys(run.native.msByKind)).toContain('binconv')
      }
    }
    // Peak memory of each session, measured in a process of its own: numbers, not errors.
    expect(typeof report.memory.onnx).toBe('number')
    expect(typeof report.memory['wasm-simd']).toBe('number')
    // Sizes, never negative (the counters' noise on a session adding ~nothing read as −64 KiB once); onnxruntime's
    // session holds its arena and thread pool even for this tiny network, the packed sessions far less.
    for (const bytes of Object.values(report.memory) as number[]) expect(bytes).toBeGreaterThanOrEqual(0)
    expect(report.memory.onnx).toBeGreaterThan(report.memory['wasm-simd'])
    if (NATIVE) expect(report.memory.onnx).toBeGreaterThan(report.memory.native)
  }, 120_000)
})
