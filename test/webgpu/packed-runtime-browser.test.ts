import { existsSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { chromium } from 'playwright-core'
import type { OutputChunk, RollupOutput } from 'rollup'
import { build } from 'vite'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { initBackend } from '../../src/main/engine/backend'
import { encodePacked, packNetwork, type ModelMeta } from '../../src/main/export'
import type { PackedModel } from '../../src/main/export/packed/format'
import { PackedSession } from '../../src/main/export/packed/runtime'
import { ALL_OPS, argmaxRows, maxAbsDiff, perturbedNetwork, randomImages } from '../export/fixture'

/**
 * The packed runtime in a browser: bundled for the web by Vite (no TF.js, no Node module outside the chunk that only
 * Node loads), then run in Chromium, whose WebGPU here is SwiftShader (a fallback adapter: software, so the WebGPU path
 * runs only when named). Logits must equal the Node reference path's.
 */
const ROOT = resolve(__dirname, '../..')
const CHROMIUM = process.env.BNAS_CHROMIUM ?? '/usr/bin/chromium'

/** What the page runs: import the bundle, decode the model, run it on the chosen path and on WebGPU if it runs. */
const BROWSER_RUN = `async (module, input) => {
  const runtime = await import(module)
  const model = runtime.decodePacked(new Uint8Array(await (await fetch('/model.bnpk')).arrayBuffer()))
  const paths = await runtime.describePackedPaths()
  const chosen = await runtime.PackedSession.create(model)
  const out = { [chosen.pathName]: [...(await chosen.run(new Float32Array(input), 2))] }
  if (paths.find((p) => p.name === 'webgpu')?.ok) {
    const session = await runtime.PackedSession.create(model, { path: 'webgpu' })
    out.webgpu = [...(await session.run(new Float32Array(input), 2))]
  }
  return { paths, chosen: chosen.pathName, out, hasTf: 'tf' in globalThis }
}`

let chunks: OutputChunk[] = []
let entry: OutputChunk
let dir: string

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bnas-packed-browser-'))
  const main = join(dir, 'entry.ts')
  await writeFile(
    main,
    `export * from '${ROOT}/src/main/export/packed/runtime'\nexport { decodePacked } from '${ROOT}/src/main/export/packed/format'\n`
  )
  const output = (await build({
    configFile: false,
    logLevel: 'silent',
    root: ROOT,
    build: {
      write: false,
      minify: false,
      target: 'es2022',
      lib: { entry: main, formats: ['es'], fileName: 'packed' },
      // Left as imports, so the test sees them (a browser could not load them).
      rollupOptions: { external: [/^node:/, 'webgpu'] }
    }
  })) as RollupOutput[] | RollupOutput
  chunks = (Array.isArray(output) ? output : [output])
    .flatMap((o) => o.output)
    .filter((o): o is OutputChunk => o.type === 'chunk')
  entry = chunks.find((c) => c.isEntry)!
}, 120_000)

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true })
})

describe('the packed runtime bundled for a browser', () => {
  it('pulls in neither TF.js nor the engine, and Node modules only in the chunk Node alone loads', () => {
    // Everything a browser loads on import: the entry and its static imports.
    const loaded = new Set<string>()
    const visit = (name: string): void => {
      if (loaded.has(name)) return
      loaded.add(name)
      chunks.find((c) => c.fileName === name)?.imports.forEach(visit)
    }
    visit(entry.fileName)
    const modules = [...loaded].flatMap((name) => Object.keys(chunks.find((c) => c.fileName === name)?.modules ?? {}))
    expect([...loaded].filter((name) => name.startsWith('node:') || name === 'webgpu')).toEqual([])
    expect(modules.filter((m) => m.includes('@tensorflow'))).toEqual([])
    // From the engine only the WGSL binary conv (plain WebGPU, src/main/engine/webgpu/wgsl/).
    const engine = modules.filter((m) => m.includes('/src/main/engine/')).map((m) => m.split('/src/main/')[1])
    expect(engine).toContain('engine/webgpu/wgsl/binary-conv.ts')
    expect(engine.filter((m) => !m.startsWith('engine/webgpu/wgsl/'))).toEqual([])
    const gpuChunk = chunks.find((c) => Object.keys(c.modules).some((m) => m.endsWith('engine/webgpu/gpu.ts')))!
    expect(loaded.has(gpuChunk.fileName)).toBe(false)
    expect(entry.dynamicImports).toContain(gpuChunk.fileName)
  })

  const skip = existsSync(CHROMIUM) ? '' : ` (SKIPPED: no Chromium at ${CHROMIUM}; set BNAS_CHROMIUM)`
  if (skip) console.warn(`test/webgpu: packed runtime in a browser not tested:${skip}`)
  it.skipIf(Boolean(skip))(
    `runs an exported network in Chromium on WebGPU (named) and wasm-simd (chosen), as the reference in Node${skip}`,
    async () => {
      await initBackend('cpu')
      const shape: [number, number, number] = [16, 16, 3]
      const net = perturbedNetwork({ cells: 4, channels: 6, classes: 5, seed: 21 })
      const meta: ModelMeta = {
        genotype: ALL_OPS,
        cells: 4,
        channels: 6,
        classes: 5,
        macro: 'cifar',
        inputShape: shape,
        classNames: [],
        normalize: { mean: [], std: [] }
      }
      let model: PackedModel
      try {
        model = packNetwork(net, meta).model
      } finally {
        net.dispose()
      }
      const images = randomImages(2, shape, 5)
      const reference = await PackedSession.create(model, { path: 'reference' })
      const want = await reference.run(images, 2)

      const files = new Map<string, { type: string; body: string | Uint8Array }>([
        ['/model.bnpk', { type: 'application/octet-stream', body: encodePacked(model) }],
        ['/', { type: 'text/html', body: '<!doctype html><title>packed</title>' }],
        ...chunks.map((c) => [`/${c.fileName}`, { type: 'text/javascript', body: c.code }] as const)
      ])
      const server: Server = createServer((request, response) => {
        const file = files.get(request.url ?? '')
        response.writeHead(file ? 200 : 404, { 'content-type': file?.type ?? 'text/plain' })
        response.end(file?.body ?? 'not found')
      })
      await new Promise<void>((done) => server.listen(0, '127.0.0.1', done))
      const address = server.address()
      const origin = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`
      const browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: ['--headless', '--no-sandbox', '--enable-unsafe-webgpu', '--no-first-run', '--disable-sync']
      })
      try {
        const page = await browser.newPage()
        const errors: string[] = []
        page.on('pageerror', (error) => errors.push(error.message))
        await page.goto(`${origin}/`)
        // A string, not a function: vitest would rewrite a function's import() into its own loader.
        const result = (await page.evaluate(
          `(${BROWSER_RUN})(${JSON.stringify(`${origin}/${entry.fileName}`)}, ${JSON.stringify([...images])})`
        )) as {
          paths: Array<{ name: string; ok: boolean; auto: boolean; reason?: string }>
          chosen: string
          out: Record<string, number[]>
          hasTf: boolean
        }
        expect(errors).toEqual([])
        expect(result.hasTf).toBe(false)
        const webgpu = result.paths.find((p) => p.name === 'webgpu')!
        console.info(`test/webgpu: Chromium's WebGPU path: ${JSON.stringify(webgpu)}`)
        // A Chromium without WebGPU still runs wasm-simd; the WebGPU part is then skipped with its reason, unless
        // BNAS_REQUIRE_WEBGPU=1 (CI) says it must run.
        if (!webgpu.ok && process.env.BNAS_REQUIRE_WEBGPU !== '1') {
          console.warn(`test/webgpu: the packed WebGPU path in Chromium not tested: ${webgpu.reason}`)
        } else {
          // Headless Chromium's WebGPU is SwiftShader, a fallback adapter: software, never chosen by itself.
          expect(webgpu).toMatchObject({ ok: true, auto: false, reason: expect.stringMatching(/^software adapter: /) })
        }
        expect(result.chosen).toBe('wasm-simd')
        for (const path of webgpu.ok ? ['wasm-simd', 'webgpu'] : ['wasm-simd']) {
          const got = result.out[path]
          expect(got, path).toBeDefined()
          expect(maxAbsDiff(got, want), path).toBeLessThan(1e-4)
          expect(argmaxRows(got, 5), path).toEqual(argmaxRows(want, 5))
        }
      } finally {
        await browser.close()
        await new Promise((done) => server.close(done))
      }
    }
  )
})
