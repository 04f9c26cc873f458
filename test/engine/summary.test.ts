import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { computeSummary, parseInputShape, runSummary } from '../../src/main/cli/commands/summary'
import { initBackend } from '../../src/main/engine/backend'
import { summarizeFinalNetwork, type ModelSummary } from '../../src/main/engine/summary'
import { formatGenotypeJson, formatGenotypePython, LATEST_CELL, LATEST_CELL_ZEROISE } from '../../src/shared/genotype'

let dir: string
let bnasA: ModelSummary

beforeAll(async () => {
  await initBackend('cpu')
  dir = await mkdtemp(join(tmpdir(), 'bnas-summary-'))
  bnasA = summarizeFinalNetwork({
    genotype: LATEST_CELL_ZEROISE,
    cells: 20,
    channels: 36,
    classes: 10,
    macro: 'cifar',
    input: [32, 32, 3]
  })
})

afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

/**
 * BNAS-A's MACs by hand, independent of the module tree: per cell the two 1×1 (or 3×3/s2) binary preprocess convs and,
 * in normal cells, the binary dil 3×3 on s0 and the binary 3×3 on s1 (the other 6 edges are Zeroise); reduction cells
 * only pool, plus the float 2×2/s2 residual conv.
 */
function bnasAByHand(): { bops: number; flops: number; residualMacs: number } {
  let [cpp, cp, c, size, reductionPrev] = [108, 108, 36, 32, false]
  let bops = 0
  let residualMacs = 0
  for (let i = 0; i < 20; i++) {
    const reduction = i === 6 || i === 13
    const inSize = size
    if (reduction) {
      c *= 2
      size /= 2
    }
    // preprocess0 works at the cell's input resolution of c_{k-1} (stride 2 when c_{k-2} is twice as large).
    const preSize = reduction ? inSize : size
    bops += preSize * preSize * c * cpp * (reductionPrev ? 9 : 1) + preSize * preSize * c * cp
    if (reduction) residualMacs += size * size * 4 * c * cp * 4
    else bops += 2 * size * size * c * c * 9
    reductionPrev = reduction
    ;[cpp, cp] = [cp, 4 * c]
  }
  return { bops, flops: 32 * 32 * 108 * 27 + residualMacs + 576 * 10, residualMacs }
}

describe('model summary', () => {
  it('counts BNAS-A exactly: 5,578,252 parameters, MACs matching a hand count', () => {
    expect(bnasA.trainableParams).toBe(5_578_252)
    const { totals, totalsResidualBinary: binary } = bnasA
    expect(totals.binaryParams + totals.floatParams).toBe(5_578_252)
    const hand = bnasAByHand()
    expect(totals.bops).toBe(hand.bops)
    expect(totals.flops).toBe(hand.flops)
    expect(totals.ops).toBe(totals.bops / 64 + totals.flops)
    expect(totals.sizeBits).toBe(totals.binaryParams + 32 * totals.floatParams)
    expect(bnasA.residualConvs).toEqual({ count: 2, params: 830_304, macs: hand.residualMacs })
    // The other accounting moves exactly the residual weights (not their 576 + 288 biases) and MACs to binary.
    expect(binary.binaryParams - totals.binaryParams).toBe(830_304 - 4 * 72 - 4 * 144)
    expect(binary.bops - totals.bops).toBe(hand.residualMacs)
    expect(binary.flops).toBe(totals.flops - hand.residualMacs)
    expect(binary.binaryParams + binary.floatParams).toBe(5_578_252)
  })

  it('lists blocks with their roles and output shapes', () => {
    expect(bnasA.blocks.map((block) => block.role)).toEqual([
      'stem',
      ...Array.from({ length: 20 }, (_, i) => (i === 6 || i === 13 ? 'reduction' : 'normal')),
      'head',
      'head'
    ])
    expect(bnasA.blocks.find((block) => block.name === 'cells.13')?.output).toEqual([8, 8, 576])
    expect(bnasA.output).toEqual([1, 1, 10])
    const residual = bnasA.layers.find((layer) => layer.name === 'cells.6.preprocess_res.1')
    expect(residual).toMatchObject({ kind: 'residual-conv', geometry: '2x2 s2 p0', input: [32, 32, 144] })
    const dil = bnasA.layers.find((layer) => layer.name === 'cells.0._ops.1.op.0')
    expect(dil).toMatchObject({ kind: 'binary-conv', geometry: '3x3 s1 p2 d2', bops: 32 * 32 * 36 * 36 * 9 })
  })

  it('bnas summary --json reports trainableParams 5578252 for BNAS-A', async () => {
    const text = await runSummary({
      genotype: 'latest_cell_zeroise',
      cells: '20',
      channels: '36',
      input: '32x32x3',
      classes: '10',
      json: true
    })
    const json = JSON.parse(text) as ModelSummary
    expect(json.trainableParams).toBe(5_578_252)
    expect(json.totals).toEqual(bnasA.totals)
  })

  it('prints a readable table with both accountings', async () => {
    const text = await runSummary({ genotype: 'latest_cell_zeroise' })
    expect(text).toContain('trainable parameters 5,578,252')
    expect(text).toMatch(/residual convs float \(as run\)/)
    expect(text).toMatch(/residual convs binary/)
    expect(text.split('\n').filter((line) => line.startsWith('cells.'))).toHaveLength(20)
  })

  it('reads a genotype from a JSON or Python-text file, and builds the ImageNet macro', async () => {
    const jsonFile = join(dir, 'cell.json')
    const pyFile = join(dir, 'cell.py')
    await writeFile(jsonFile, formatGenotypeJson(LATEST_CELL))
    await writeFile(pyFile, formatGenotypePython(LATEST_CELL))
    const a = await computeSummary({
      genotype: jsonFile,
      cells: '5',
      channels: '8',
      input: '64x64x3',
      macro: 'imagenet'
    })
    const b = await computeSummary({ genotype: pyFile, cells: '5', channels: '8', input: '64x64x3', macro: 'imagenet' })
    expect(a.totals).toEqual(b.totals)
    expect(a.output).toEqual([1, 1, 1000]) // ImageNet default classes
    expect(a.blocks.slice(0, 2).map((block) => [block.name, block.output])).toEqual([
      ['stem0', [16, 16, 8]],
      ['stem1', [8, 8, 8]]
    ])
  })

  it('explains bad options', async () => {
    await expect(computeSummary({ genotype: 'nope' })).rejects.toThrow(
      "unknown genotype 'nope': neither a published name (latest_cell_zeroise, latest_cell, DARTS_V2) nor a readable file"
    )
    await expect(computeSummary({ genotype: 'DARTS_V2' })).rejects.toThrow(/not in the BNAS search space/)
    await expect(computeSummary({ genotype: 'latest_cell', input: '32x32' })).rejects.toThrow(
      "--input must be HxWxC with positive integers, e.g. 32x32x3 (got '32x32')"
    )
    await expect(computeSummary({ genotype: 'latest_cell', cells: '2.5' })).rejects.toThrow(
      "--cells must be a positive integer (got '2.5')"
    )
    await expect(computeSummary({ genotype: 'latest_cell', macro: 'mnist' })).rejects.toThrow(
      "--macro must be cifar or imagenet (got 'mnist')"
    )
    const broken = join(dir, 'broken.py')
    await writeFile(broken, "Genotype(normal=[('none', 1)")
    await expect(computeSummary({ genotype: broken })).rejects.toThrow(/broken\.py: genotype text, line 1 column/)
    expect(parseInputShape('224×224×3')).toEqual([224, 224, 3])
  })
})
