import { readFileSync, writeFileSync } from 'node:fs'
import * as tf from '@tensorflow/tfjs-core'
import { publishedBnasGenotype } from '../../../shared/genotype'
import type { Batch } from '../../datasets'
import { FinalNetwork, Supernet } from '../network'
import { centerAndClampLatent } from '../ops'
import { Adam, SgdMomentum } from '../train/optimizers'
import { archStep, weightStep } from '../jobs/search-job'
import { trainStep } from '../jobs/train-job'
import { trainConfigSchema } from '../../../shared/jobs'

export interface StepBenchOptions {
  cells: number
  channels: number
  batch: number
  /** [height, width, channels] */
  input: [number, number, number]
  classes: number
  warmup: number
  steps: number
  /** train-step only: the genotype of the final network. */
  genotype?: string
}

export interface KernelTime {
  kernel: string
  ms: number
  calls: number
  share: number
}

export interface StepBenchResult {
  kind: 'search-step' | 'train-step'
  backend: string
  /** Median wall-clock milliseconds of one full step after warm-up. */
  msPerStep: number
  stepsMs: number[]
  /**
   * Median CPU milliseconds (user + system, all threads of the process) of one step: on a shared machine this moves
   * far less with other processes' load than the wall clock, so changes are judged by it.
   */
  cpuMsPerStep: number
  stepsCpuMs: number[]
  /** Peak bytes of tensors alive during one profiled step (TF.js accounting). */
  peakTensorBytes: number
  /** Peak resident memory of the whole process so far (the OS's accounting; includes the runtime). */
  peakRssBytes: number
  /**
   * Peak resident memory of the process while it stepped (warm-up and timed steps): Linux's VmHWM, reset through
   * /proc/self/clear_refs once the network was built. The figure to set beside PyTorch's (its script measures the
   * same way). Elsewhere: the lifetime peak, an upper bound (`stepPeakMeasured` false).
   */
  stepPeakRssBytes: number
  /** stepPeakRssBytes minus the resident size just before the first step: what stepping added. */
  stepAddedBytes: number
  stepPeakMeasured: boolean
  parameters: number
  /** Time per kernel in one profiled step, largest first (wall-clock per kernel call on CPU backends). */
  profile: KernelTime[]
  config: StepBenchOptions
}

/** Random inputs and labels of the benchmark's shape: timing does not depend on the data. */
function randomBatch(options: StepBenchOptions, seed: number): Batch {
  const [height, width, channels] = options.input
  const size = options.batch * height * width * channels
  const images = new Float32Array(size)
  let state = seed >>> 0
  for (let i = 0; i < size; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0
    images[i] = state / 2147483648 - 1
  }
  const labels = Int32Array.from({ length: options.batch }, (_, i) => i % options.classes)
  return {
    images,
    labels,
    shape: [options.batch, height, width, channels],
    size: options.batch,
    indices: new Int32Array(options.batch)
  }
}

function procStatusKiB(field: 'VmRSS' | 'VmHWM'): number | undefined {
  try {
    const match = readFileSync('/proc/self/status', 'utf8').match(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm'))
    return match ? Number(match[1]) : undefined
  } catch {
    return undefined
  }
}

interface StepPeak {
  stepPeakRssBytes: number
  stepAddedBytes: number
  stepPeakMeasured: boolean
}

/**
 * Starts a resident-memory peak window (as `bench infer` measures memory): writing 5 to /proc/self/clear_refs resets
 * VmHWM to the current resident size. The returned function reads the peak since then.
 */
function startPeakWindow(): () => StepPeak {
  ;(globalThis as { gc?: () => void }).gc?.()
  let measured = true
  try {
    writeFileSync('/proc/self/clear_refs', '5')
  } catch {
    measured = false // not Linux: the lifetime peak below is an upper bound
  }
  // Baseline from the counter just reset, not VmRSS: the two are summed from per-CPU counters approximately.
  const baseline = (procStatusKiB('VmHWM') ?? process.memoryUsage().rss / 1024) * 1024
  return () => {
    const hwm = procStatusKiB('VmHWM')
    const peak = (hwm ?? process.resourceUsage().maxRSS) * 1024
    return {
      stepPeakRssBytes: peak,
      stepAddedBytes: Math.max(0, peak - baseline),
      stepPeakMeasured: measured && hwm !== undefined
    }
  }
}

/**
 * Times `step`, which ends by reading its loss back: on a GPU backend that waits for the step's queued work, so the
 * time is the step's, not the time to enqueue it.
 */
async function measure(
  step: () => Promise<unknown>,
  options: StepBenchOptions
): Promise<{ stepsMs: number[]; stepsCpuMs: number[]; profile: KernelTime[]; peakTensorBytes: number } & StepPeak> {
  const readPeak = startPeakWindow()
  for (let i = 0; i < options.warmup; i++) await step()
  const stepsMs: number[] = []
  const stepsCpuMs: number[] = []
  for (let i = 0; i < options.steps; i++) {
    const start = performance.now()
    const cpuStart = process.cpuUsage()
    await step()
    const cpu = process.cpuUsage(cpuStart)
    stepsMs.push(performance.now() - start)
    stepsCpuMs.push((cpu.user + cpu.system) / 1000)
  }
  // Read before the profiled step: the profiler keeps every kernel's record and would add its own memory.
  const peak = readPeak()
  // One more step under the profiler, for the breakdown by kernel and the memory peak.
  const info = await tf.profile(async () => {
    await step()
  })
  const byKernel = new Map<string, { ms: number; calls: number }>()
  for (const kernel of info.kernels) {
    const ms = typeof kernel.kernelTimeMs === 'number' ? kernel.kernelTimeMs : 0
    const entry = byKernel.get(kernel.name) ?? { ms: 0, calls: 0 }
    entry.ms += ms
    entry.calls += 1
    byKernel.set(kernel.name, entry)
  }
  const total = [...byKernel.values()].reduce((sum, entry) => sum + entry.ms, 0)
  const profile = [...byKernel.entries()]
    .map(([kernel, { ms, calls }]) => ({ kernel, ms, calls, share: total > 0 ? ms / total : 0 }))
    .sort((a, b) => b.ms - a.ms)
  return { stepsMs, stepsCpuMs, profile, peakTensorBytes: info.peakBytes, ...peak }
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}

/**
 * One full search step as the search runs it (spec 5.1 order): centre and clamp the latent binary weights, an α
 * step (Adam) on a validation batch, a weight step (SGD) on a train batch.
 */
export async function benchSearchStep(options: StepBenchOptions): Promise<StepBenchResult> {
  const net = new Supernet({
    cells: options.cells,
    channels: options.channels,
    classes: options.classes,
    inputChannels: options.input[2],
    seed: 0
  })
  const weights = net.namedParameters().map(([name, variable]) => ({ name, variable }))
  const sgd = new SgdMomentum(weights, 0.025, 0.9, 3e-4)
  const adam = new Adam(
    [
      { name: 'alpha.normal', variable: net.alphaNormal as tf.Variable },
      { name: 'alpha.reduce', variable: net.alphaReduce as tf.Variable }
    ],
    3e-4,
    0.5,
    0.999,
    1e-3
  )
  const train = randomBatch(options, 1)
  const validation = randomBatch(options, 2)
  const binary = net.binaryWeights()
  const arch = net.archParameters()
  const weightVariables = weights.map((w) => w.variable)
  try {
    const measured = await measure(() => {
      for (const weight of binary) centerAndClampLatent(weight)
      archStep(net, adam, arch, validation, 1)
      return weightStep(net, sgd, weightVariables, train)
    }, options)
    return finish('search-step', net.parameterCount(), measured, options)
  } finally {
    sgd.dispose()
    adam.dispose()
    net.dispose()
  }
}

/** One training step of the final network of a genotype (default BNAS-A's cell), drop-path off. */
export async function benchTrainStep(options: StepBenchOptions): Promise<StepBenchResult> {
  const genotype = publishedBnasGenotype(options.genotype ?? 'latest_cell_zeroise')
  const net = new FinalNetwork({
    genotype,
    cells: options.cells,
    channels: options.channels,
    classes: options.classes,
    macro: 'cifar',
    inputChannels: options.input[2],
    seed: 0
  })
  const weights = net.namedParameters().map(([name, variable]) => ({ name, variable }))
  const sgd = new SgdMomentum(weights, 0.05, 0.9, 3e-6)
  const batch = randomBatch(options, 1)
  const binary = net.binaryWeights()
  const variables = weights.map((w) => w.variable)
  const config = trainConfigSchema.parse({ dataset: 'synthetic', genotype })
  try {
    const measured = await measure(() => {
      for (const weight of binary) centerAndClampLatent(weight)
      return trainStep(net, sgd, variables, batch, config)
    }, options)
    return finish('train-step', net.parameterCount(), measured, options)
  } finally {
    sgd.dispose()
    net.dispose()
  }
}

function finish(
  kind: StepBenchResult['kind'],
  parameters: number,
  measured: Awaited<ReturnType<typeof measure>>,
  options: StepBenchOptions
): StepBenchResult {
  return {
    kind,
    backend: tf.getBackend(),
    msPerStep: median(measured.stepsMs),
    stepsMs: measured.stepsMs,
    cpuMsPerStep: median(measured.stepsCpuMs),
    stepsCpuMs: measured.stepsCpuMs,
    peakTensorBytes: measured.peakTensorBytes,
    peakRssBytes: process.resourceUsage().maxRSS * 1024,
    stepPeakRssBytes: measured.stepPeakRssBytes,
    stepAddedBytes: measured.stepAddedBytes,
    stepPeakMeasured: measured.stepPeakMeasured,
    parameters,
    profile: measured.profile,
    config: options
  }
}
