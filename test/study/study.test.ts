import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { beforeAll, describe, expect, it } from 'vitest'
import { initBackend } from '../../src/main/engine/backend'
import { JobControl } from '../../src/main/engine/jobs/control'
import type { JobListener } from '../../src/main/engine/jobs/search-job'
import { LocalExecutor } from '../../src/main/study/executor'
import { builtinStudyNames, loadBuiltinStudy } from '../../src/main/study/load'
import { buildStudyReport, listStudies } from '../../src/main/study/report'
import { renderStudyHtml } from '../../src/main/study/report-html'
import { renderStudyMarkdown } from '../../src/main/study/report-markdown'
import { runStudy, type StudyProgress, type StudyReporter } from '../../src/main/study/runner'
import { readStudyState } from '../../src/main/study/state'
import { genotypeDifference, resolveStudy, StudyError, type StudyFileInput } from '../../src/shared/study'

const root = fileURLToPath(new URL('../..', import.meta.url))
const cli = join(root, 'src', 'main', 'cli', 'index.ts')

// Three arms × two seeds on 32 synthetic 16×16 images: each search or training is two epochs of a 3-cell network
// (a search epoch is 2 steps: 16 images for w, 16 for α, batches of 8).
const TINY: StudyFileInput = {
  name: 'tiny',
  dataset: 'synthetic:32?size=16&channels=1&classes=4',
  base: {
    search: { cells: 3, channels: 2, batchSize: 8, epochs: 2, checkpointEvery: 2, progressEvery: 1, tau: 1 },
    train: {
      cells: 3,
      channels: 4,
      batchSize: 8,
      epochs: 2,
      schedule: 'cosine',
      dropPath: 0,
      checkpointEvery: 2,
      progressEvery: 1
    }
  },
  arms: [
    { name: 'layer', search: { lambda: 1 }, train: { genotype: 'from-search' }, seeds: [1, 2] },
    {
      name: 'placeholder',
      search: { lambda: 1, zeroise: 'placeholder' },
      train: { genotype: 'from-search' },
      seeds: [1, 2]
    },
    // A hand-designed baseline: training only, no cell.
    { name: 'resnet', train: { architecture: 'binary-resnet18', channels: 4 }, seeds: [1, 2] }
  ]
}

const quiet: JobListener = { progress: () => undefined, epoch: () => undefined, log: () => undefined }

function reporter(seen: StudyProgress[], onProgress?: (p: StudyProgress, step: number) => void): StudyReporter {
  return {
    run: (p) => seen.push(p),
    listener: (p) => ({ ...quiet, progress: (record) => onProgress?.(p, record.step) })
  }
}

function readJsonLines(path: string): Array<Record<string, unknown>> {
  return readFileSync(path, 'utf8')
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Record<string, unknown>)
}

describe('study files', () => {
  it('name the arm and the field of a bad setting', () => {
    const bad = structuredClone(TINY)
    bad.arms[1] = { ...bad.arms[1]!, name: 'no-entropy', search: { lambda: -1 } }
    expect(() => resolveStudy(bad)).toThrow(StudyError)
    expect(() => resolveStudy(bad)).toThrow("arm 'no-entropy': search.lambda: lambda must not be negative")
    const typo = structuredClone(TINY)
    typo.arms[0] = { ...typo.arms[0]!, train: { epocs: 3 } }
    expect(() => resolveStudy(typo)).toThrow("arm 'layer': train.epocs: not a training setting (check its spelling)")
    const genotype = structuredClone(TINY)
    genotype.arms[0] = { name: 'pub', train: { genotype: 'nope' }, seeds: [1] }
    expect(() => resolveStudy(genotype)).toThrow(/^arm 'pub': train\.genotype: "nope" is neither 'from-search'/)
    const fromSearch = structuredClone(TINY)
    fromSearch.arms[0] = { name: 'alone', train: { genotype: 'from-search' }, seeds: [1] }
    expect(() => resolveStudy(fromSearch)).toThrow("arm 'alone': train.genotype: 'from-search' needs a search")
    const seeds = structuredClone(TINY)
    seeds.arms[1] = { ...seeds.arms[1]!, seeds: [] }
    expect(() => resolveStudy(seeds)).toThrow("arm 'placeholder': seeds: give at least one seed")
    expect(() => resolveStudy({ ...TINY, arms: [TINY.arms[0], TINY.arms[0]] })).toThrow('arm names must be unique')
  })

  it('a bad arm fails on the command line before any run folder is made', async () => {
    const base = mkdtempSync(join(tmpdir(), 'bnas-study-bad-'))
    const bad = structuredClone(TINY)
    bad.arms[1] = { ...bad.arms[1]!, name: 'no-entropy', search: { lambda: -1 } }
    writeFileSync(join(base, 'bad.json'), JSON.stringify(bad))
    const runs = join(base, 'runs')
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', cli, 'study', join(base, 'bad.json'), '--runs', runs, '--backend', 'wasm'],
      { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] }
    )
    let output = ''
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()))
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()))
    const code = await new Promise((resolve) => child.on('exit', resolve))
    expect(code).toBe(1)
    expect(output).toContain("bnas: arm 'no-entropy': search.lambda: lambda must not be negative")
    expect(existsSync(runs)).toBe(false)
  })

  it('the built-in studies are valid', async () => {
    const names = await builtinStudyNames()
    expect(names).toEqual(expect.arrayContaining(['diversity', 'zeroise', 'baselines']))
    for (const name of ['diversity', 'zeroise', 'baselines']) {
      const study = await loadBuiltinStudy(name)
      expect(study.arms.length).toBeGreaterThanOrEqual(2)
      for (const arm of study.arms) expect(arm.seeds.length).toBeGreaterThanOrEqual(3)
    }
  })
})

describe('genotypeDifference', () => {
  it('counts the edges of one cell pair the other lacks, node by node', () => {
    const a = {
      normal: [
        ['none', 0],
        ['bin_conv_3x3', 1],
        ['max_pool_3x3', 0],
        ['none', 2]
      ],
      reduce: [
        ['max_pool_3x3', 0],
        ['max_pool_3x3', 1],
        ['max_pool_3x3', 0],
        ['max_pool_3x3', 2]
      ]
    }
    const b = {
      normal: [
        ['bin_conv_3x3', 1],
        ['avg_pool_3x3', 0],
        ['max_pool_3x3', 0],
        ['none', 2]
      ],
      reduce: a.reduce
    }
    expect(genotypeDifference(a, a)).toBe(0)
    expect(genotypeDifference(a, b)).toBe(1 / 8) // node 0: Zeroise@0 became avg pool@0; order within a node is free
    expect(genotypeDifference(a, null)).toBeNull()
  })
})

describe('the runner', () => {
  it('goes on past a failed run, skips the training of a failed search, and says the study is incomplete', async () => {
    const runsRoot = mkdtempSync(join(tmpdir(), 'bnas-study-fail-'))
    const study = resolveStudy({
      name: 'fails',
      dataset: 'synthetic:64?size=16&channels=1&classes=4',
      arms: [
        { name: 'both', search: { epochs: 1 }, train: { genotype: 'from-search', epochs: 1 }, seeds: [1, 2] },
        { name: 'pub', train: { genotype: 'latest_cell', epochs: 1 }, seeds: [1, 2] }
      ]
    })
    const tried: string[] = []
    const executor = {
      run: async (job: { runId: string; kind: string }) => {
        tried.push(job.runId)
        // Every search fails (as a diverging run does), and so does one training; nothing is written.
        if (job.kind === 'search' || job.runId === 'fails-pub-s1-train') throw new Error(`${job.runId} diverged`)
        return 'completed' as const
      }
    }
    const failed: string[] = []
    const outcome = await runStudy(study, {
      runsRoot,
      executor,
      reporter: { ...reporter([]), failed: (p, message) => failed.push(`${p.runId}: ${message}`) }
    })
    expect(outcome.status).toBe('incomplete')
    expect(tried).toEqual(['fails-both-s1-search', 'fails-pub-s1-train', 'fails-both-s2-search', 'fails-pub-s2-train'])
    expect(failed).toEqual([
      'fails-both-s1-search: fails-both-s1-search diverged',
      'fails-both-s1-train: not trained: its search fails-both-s1-search failed',
      'fails-pub-s1-train: fails-pub-s1-train diverged',
      'fails-both-s2-search: fails-both-s2-search diverged',
      'fails-both-s2-train: not trained: its search fails-both-s2-search failed'
    ])
    expect(outcome.started).toBe(1)
  })
})

/** `bnas study …` as a child process: its output so far, its exit, and kill -9. */
function bnasStudy(args: string[]) {
  const child = spawn(process.execPath, ['--import', 'tsx', cli, 'study', ...args, '--backend', 'wasm', '--json'], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()))
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()))
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  return { output: () => output, exited, kill: () => child.kill('SIGKILL') }
}

describe('a study killed with kill -9', () => {
  it('resumes the run it was in when run again', async () => {
    const base = mkdtempSync(join(tmpdir(), 'bnas-study-kill-'))
    const file = join(base, 'study.json')
    // One arm, one seed: a search then the training of its cell; the process is killed during the training.
    writeFileSync(
      file,
      JSON.stringify({ ...TINY, name: 'killed', arms: [{ ...TINY.arms[0], seeds: [1] }] } satisfies StudyFileInput)
    )
    const runs = join(base, 'runs')
    const first = bnasStudy([file, '--runs', runs])
    const deadline = Date.now() + 90_000
    // Step 3's progress comes after step 2's checkpoint, so the kill leaves a checkpoint to resume from.
    while (!/"event":"progress".*"step":3,/.test(first.output().split('"runId":"killed-layer-s1-train"')[1] ?? '')) {
      if (Date.now() > deadline) throw new Error(`the training never reached step 3:\n${first.output()}`)
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    first.kill()
    await first.exited
    expect(JSON.parse(readFileSync(join(runs, 'killed-layer-s1-train', 'run.json'), 'utf8')).status).toBe('running')

    const second = bnasStudy([file, '--runs', runs])
    expect(await second.exited, second.output()).toBe(0)
    const events = second
      .output()
      .split('\n')
      .filter((line) => line.startsWith('{"event":"study"'))
      .map((line) => JSON.parse(line) as { runId: string; action: string })
    expect(events.map((e) => `${e.runId} ${e.action}`)).toEqual([
      'killed-layer-s1-search skip',
      'killed-layer-s1-train resume'
    ])
    const train = join(runs, 'killed-layer-s1-train')
    expect(JSON.parse(readFileSync(join(train, 'run.json'), 'utf8')).status).toBe('completed')
    expect(readJsonLines(join(train, 'epochs.jsonl')).map((r) => r.epoch)).toEqual([1, 2])

    // The report on the command line: JSON on stdout, and a standalone HTML file.
    const html = join(base, 'killed.html')
    const report = spawnSync(
      process.execPath,
      ['--import', 'tsx', cli, 'study', 'report', 'killed', '--runs', runs, '--json', '--html', html],
      { cwd: root, encoding: 'utf8' }
    )
    expect(report.status, report.stderr).toBe(0)
    const parsed = JSON.parse(report.stdout) as { completedRuns: number; arms: Array<{ finalAccuracy: { n: number } }> }
    expect(parsed.completedRuns).toBe(2)
    expect(parsed.arms[0]!.finalAccuracy.n).toBe(1)
    expect(readFileSync(html, 'utf8')).toContain('killed-layer-s1-train')
  })
})

describe('a tiny study', () => {
  beforeAll(async () => {
    await initBackend('wasm')
  })

  it('runs end to end, reports its runs’ numbers, skips what is done and resumes a stopped run', async () => {
    const runsRoot = mkdtempSync(join(tmpdir(), 'bnas-study-'))
    const study = resolveStudy(TINY)

    // First pass: stop in the middle of the third run (the first arm's training of seed 1 is run 2; run 3 is the
    // placeholder arm's search of seed 1), as Ctrl+C or the app's Stop would.
    const control = new JobControl()
    const first: StudyProgress[] = []
    const stopped = await runStudy(study, {
      runsRoot,
      executor: new LocalExecutor(control),
      reporter: reporter(first, (p, step) => {
        if (p.index === 3 && step >= 3) control.stop()
      }),
      shouldStop: () => control.shouldStop
    })
    expect(stopped.status).toBe('stopped')
    expect(first.map((p) => p.action)).toEqual(['start', 'start', 'start'])
    const stoppedRun = join(runsRoot, 'tiny-placeholder-s1-search')
    expect(JSON.parse(readFileSync(join(stoppedRun, 'run.json'), 'utf8')).status).toBe('stopped')
    expect(existsSync(join(runsRoot, 'tiny-placeholder-s1-train'))).toBe(false)
    const state = await readStudyState(runsRoot, 'tiny')
    expect(state?.runs.map((run) => run.runId)).toEqual([
      'tiny-layer-s1-search',
      'tiny-layer-s1-train',
      'tiny-placeholder-s1-search',
      'tiny-placeholder-s1-train',
      'tiny-resnet-s1-train',
      'tiny-layer-s2-search',
      'tiny-layer-s2-train',
      'tiny-placeholder-s2-search',
      'tiny-placeholder-s2-train',
      'tiny-resnet-s2-train'
    ])
    expect((await listStudies(runsRoot))[0]).toMatchObject({ name: 'tiny', completedRuns: 2, totalRuns: 10 })

    // Second pass: the two completed runs are skipped, the stopped one resumed from its checkpoint, the rest run.
    const second: StudyProgress[] = []
    const done = await runStudy(study, {
      runsRoot,
      executor: new LocalExecutor(new JobControl()),
      reporter: reporter(second)
    })
    expect(done).toMatchObject({ status: 'completed', skipped: 2, resumed: 1, started: 7 })
    expect(second.map((p) => p.action)).toEqual(['skip', 'skip', 'resume', ...Array(7).fill('start')])
    expect(readFileSync(join(stoppedRun, 'log.txt'), 'utf8')).toMatch(/resumed at epoch 2, step 3 of 4/)
    expect(readJsonLines(join(stoppedRun, 'epochs.jsonl')).map((r) => r.epoch)).toEqual([1, 2])

    // Third pass: nothing left to do, no new run folder.
    const before = readdirSync(runsRoot).sort()
    const third = await runStudy(study, {
      runsRoot,
      executor: new LocalExecutor(new JobControl()),
      reporter: reporter([])
    })
    expect(third).toMatchObject({ status: 'completed', skipped: 10, resumed: 0, started: 0 })
    expect(readdirSync(runsRoot).sort()).toEqual(before)

    // 'placeholder' parses the cell as DARTS does: no Zeroise in any epoch's genotype; the trained cell is the search's.
    for (const seed of [1, 2]) {
      const epochs = readJsonLines(join(runsRoot, `tiny-placeholder-s${seed}-search`, 'epochs.jsonl'))
      for (const record of epochs) {
        const g = record.genotype as { normal: Array<[string, number]>; reduce: Array<[string, number]> }
        expect([...g.normal, ...g.reduce].some(([op]) => op === 'none')).toBe(false)
      }
      const searched = JSON.parse(
        readFileSync(join(runsRoot, `tiny-placeholder-s${seed}-search`, 'result.json'), 'utf8')
      )
      const trained = JSON.parse(readFileSync(join(runsRoot, `tiny-placeholder-s${seed}-train`, 'run.json'), 'utf8'))
      expect(trained.config.genotype).toEqual(searched.genotype)
      expect(trained.config.genotypeSource).toBe(`tiny-placeholder-s${seed}-search`)
    }

    // The report holds exactly the run folders' numbers.
    const report = await buildStudyReport(runsRoot, 'tiny')
    expect(report).toMatchObject({ completedRuns: 10, totalRuns: 10 })
    for (const arm of report.arms) {
      const finals = [1, 2].map(
        (seed) =>
          JSON.parse(readFileSync(join(runsRoot, `tiny-${arm.name}-s${seed}-train`, 'result.json'), 'utf8'))
            .testAccuracy
      )
      const mean = (finals[0] + finals[1]) / 2
      expect(arm.finalAccuracy?.mean).toBeCloseTo(mean, 12)
      expect(arm.finalAccuracy?.std).toBeCloseTo(Math.abs(finals[0] - finals[1]) / Math.SQRT2, 12)
      expect(arm.finalAccuracy?.n).toBe(2)
      expect(arm.cost?.ops).toBeGreaterThan(0)
      expect(arm.trainCurve).toHaveLength(2)
      if (arm.name === 'resnet') {
        expect(arm.trains).toBe('binary-resnet18')
        expect(arm.entropy).toEqual([])
        continue
      }
      for (const [i, seed] of [1, 2].entries())
        expect(
          report.numbers.find(
            (n) => n.runId === `tiny-${arm.name}-s${seed}-train` && n.metric === 'final test accuracy'
          )?.value
        ).toBe(finals[i])
      const searchEpochs = [1, 2].map((seed) =>
        readJsonLines(join(runsRoot, `tiny-${arm.name}-s${seed}-search`, 'epochs.jsonl'))
      )
      expect(arm.entropy.map((p) => p.epoch)).toEqual([1, 2])
      expect(arm.entropy[1]!.mean).toBeCloseTo(
        ((searchEpochs[0]![1]!.entropy as number) + (searchEpochs[1]![1]!.entropy as number)) / 2,
        12
      )
      expect(arm.genotypes).toHaveLength(2)
      if (arm.name === 'placeholder') expect(arm.zeroiseShare.every((p) => p.max === 0)).toBe(true)
      // Where the BNAS parse kept Zeroise, the DARTS parse of the same α must differ on at least that many edges.
      for (const [i, point] of arm.zeroiseShare.entries())
        if (arm.name === 'layer') expect(arm.parseDifference[i]!.min).toBeGreaterThanOrEqual(point.min - 1e-12)
    }

    // The standalone page carries the same numbers, ECharts inlined; the markdown every number with its run.
    const html = await renderStudyHtml(report)
    expect(html).toContain('tiny-layer-s2-train')
    expect(html).toMatch(/echarts/)
    expect(html).not.toMatch(/<script[^>]+src=/)
    const markdown = renderStudyMarkdown(report)
    expect(markdown).toContain(`| layer | 1 | tiny-layer-s1-train | final test accuracy |`)

    // A changed study file under the same name refuses to mix two experiments, before running anything.
    const changed = structuredClone(TINY)
    changed.base!.search!.epochs = 3
    await expect(
      runStudy(resolveStudy(changed), {
        runsRoot,
        executor: new LocalExecutor(new JobControl()),
        reporter: reporter([])
      })
    ).rejects.toThrow(
      "arm 'layer': run tiny-layer-s1-search exists with other settings than the study file gives now (search.epochs)"
    )
  })
})
