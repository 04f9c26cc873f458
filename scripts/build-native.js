// Builds the native addon (native/, Node-API + oneDNN) with node-gyp.
// Never fails the caller: where the addon cannot build (no compiler, no oneDNN, no node-gyp, no Node headers) it says
// why and exits 0, and the engine falls back to the wasm or cpu backend with that reason. `--strict` exits 1 instead.
// Skips the build when the addon is newer than its sources; `--force` rebuilds.
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, statSync } from 'node:fs'
import { createRequire } from 'node:module'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const nativeDir = path.join(root, 'native')
const addonFile = path.join(nativeDir, 'build', 'Release', 'bnas_native.node')
const strict = process.argv.includes('--strict')
const force = process.argv.includes('--force')
const require = createRequire(import.meta.url)

function giveUp(reason) {
  console.warn(`bnas native addon: not built: ${reason}`)
  console.warn('bnas native addon: the engine will use the wasm or cpu backend instead (slower).')
  process.exit(strict ? 1 : 0)
}

function newestSource() {
  const files = [path.join(nativeDir, 'binding.gyp')]
  // Sub-folders too (src/packed): a folder's own mtime does not change when a file in it is edited.
  for (const name of readdirSync(path.join(nativeDir, 'src'), { recursive: true }))
    files.push(path.join(nativeDir, 'src', name))
  return Math.max(...files.map((f) => statSync(f).mtimeMs))
}

/** Loads the built addon in a fresh Node process and returns its info line, or throws with the loader's error. */
function smokeTest() {
  const probe = spawnSync(
    process.execPath,
    ['-e', `console.log(JSON.stringify(require(${JSON.stringify(addonFile)}).info()))`],
    {
      encoding: 'utf8'
    }
  )
  if (probe.status !== 0) throw new Error((probe.stderr || probe.stdout).trim().split('\n').slice(0, 3).join(' | '))
  return JSON.parse(probe.stdout.trim())
}

if (process.env.BNAS_SKIP_NATIVE === '1') giveUp('BNAS_SKIP_NATIVE=1 is set')
if (!existsSync(path.join(nativeDir, 'binding.gyp'))) giveUp('native/binding.gyp is missing')

if (!force && existsSync(addonFile) && statSync(addonFile).mtimeMs >= newestSource()) {
  try {
    const info = smokeTest()
    console.log(`bnas native addon: up to date (oneDNN ${info.oneDNN}, ${info.threads} threads, ${info.simd})`)
    process.exit(0)
  } catch {
    // Stale or broken build (for example oneDNN was removed): rebuild below.
  }
}

let nodeGyp
let addonApi
try {
  nodeGyp = require.resolve('node-gyp/bin/node-gyp.js')
  addonApi = require.resolve('node-addon-api')
} catch {
  giveUp('node-gyp or node-addon-api is not installed (they are devDependencies: run `npm install`)')
}
void addonApi

if (process.platform === 'linux') {
  const headers = ['/usr/include/oneapi/dnnl/dnnl.hpp', '/usr/local/include/oneapi/dnnl/dnnl.hpp']
  if (!headers.some((h) => existsSync(h)) && !process.env.CPLUS_INCLUDE_PATH)
    giveUp('oneDNN headers not found (Debian/Ubuntu: `sudo apt-get install libdnnl-dev`)')
}

// configure + build rather than rebuild: a failed build then leaves the previous working addon in place.
const args = [`--directory=${nativeDir}`]
// Node's own headers, when installed beside the binary (Debian's nodejs, the official tarballs), spare node-gyp a
// download from nodejs.org, which offline machines cannot make.
const prefix = path.resolve(path.dirname(process.execPath), '..')
if (existsSync(path.join(prefix, 'include', 'node', 'node_api.h'))) args.push(`--nodedir=${prefix}`)

console.log('bnas native addon: building (node-gyp, oneDNN)...')
const started = Date.now()
const gyp = (command, extra = []) =>
  spawnSync(process.execPath, [nodeGyp, command, ...args, ...extra], { cwd: root, encoding: 'utf8', env: process.env })
let build = gyp('configure')
if (!build.error && build.status === 0) build = gyp('build', ['--jobs=max'])
if (build.error) giveUp(`node-gyp could not start: ${build.error.message}`)
if (build.status !== 0) {
  const output = `${build.stdout}\n${build.stderr}`.split('\n')
  const errors = output.filter((line) => /error|not found|No such file/i.test(line)).slice(0, 12)
  console.warn((errors.length > 0 ? errors : output.slice(-20)).join('\n'))
  giveUp(`node-gyp failed (exit ${build.status}); the lines above say why`)
}
try {
  const info = smokeTest()
  const seconds = ((Date.now() - started) / 1000).toFixed(0)
  console.log(
    `bnas native addon: built in ${seconds} s: oneDNN ${info.oneDNN}, ${info.threads} threads, ${info.simd}, binary conv ${info.binaryConv}`
  )
} catch (error) {
  giveUp(`it built but does not load: ${error.message}`)
}
