// Builds the native addon (native/, Node-API) with node-gyp: convolutions on oneDNN where its headers are installed
// (Debian: libdnnl-dev), else on the addon's own C++ conv kernels, so a C++ compiler alone gives the native backend.
// Never fails the caller: where the addon cannot build (no compiler, no node-gyp, no Node headers) it says why and
// exits 0, and the engine falls back to the wasm or cpu backend with that reason. `--strict` exits 1 instead.
// Skips the build when the addon is newer than its sources and of the wanted kind; `--force` rebuilds.
//   BNAS_NATIVE_DNNL=0   build the own conv kernels even where oneDNN is installed (to test or measure them);
//                        =1 requires oneDNN (a missing one is then a reason not to build)
//   --build-dir DIR      build in DIR (DIR/build/Release/bnas_native.node) instead of native/, e.g. the own-kernel
//                        variant beside the default build: BNAS_NATIVE_DNNL=0 node scripts/build-native.js
//                        --build-dir native/build-own, then BNAS_NATIVE_ADDON=native/build-own/build/Release/bnas_native.node
import { spawnSync } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, readdirSync, rmSync, statSync, symlinkSync } from 'node:fs'
import { createRequire } from 'node:module'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const nativeDir = path.join(root, 'native')
const strict = process.argv.includes('--strict')
const force = process.argv.includes('--force')
const buildDirArg = process.argv.indexOf('--build-dir')
// Where node-gyp runs: native/ itself, or a folder holding a copy of binding.gyp and a link to native/src.
const gypDir = buildDirArg > 0 ? path.resolve(process.argv[buildDirArg + 1] ?? '') : nativeDir
const addonFile = path.join(gypDir, 'build', 'Release', 'bnas_native.node')
const require = createRequire(import.meta.url)

if (buildDirArg > 0 && !process.argv[buildDirArg + 1]) {
  console.error('bnas native addon: --build-dir needs a folder, e.g. --build-dir native/build-own')
  process.exit(1)
}

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

function oneDnnHeadersFound() {
  if (process.platform !== 'linux') return true // macOS/Windows: left to the compiler (binding.gyp's include paths)
  const headers = ['/usr/include/oneapi/dnnl/dnnl.hpp', '/usr/local/include/oneapi/dnnl/dnnl.hpp']
  const extra = (process.env.CPLUS_INCLUDE_PATH ?? '').split(path.delimiter).filter(Boolean)
  return [...headers, ...extra.map((dir) => path.join(dir, 'oneapi', 'dnnl', 'dnnl.hpp'))].some((h) => existsSync(h))
}

const dnnlSetting = process.env.BNAS_NATIVE_DNNL
if (dnnlSetting !== undefined && dnnlSetting !== '0' && dnnlSetting !== '1')
  giveUp(`BNAS_NATIVE_DNNL must be 0 (own conv kernels) or 1 (oneDNN), got '${dnnlSetting}'`)
const haveDnnl = oneDnnHeadersFound()
if (dnnlSetting === '1' && !haveDnnl)
  giveUp('BNAS_NATIVE_DNNL=1 but the oneDNN headers are not found (Debian/Ubuntu: `sudo apt-get install libdnnl-dev`)')
const withDnnl = dnnlSetting === '0' ? false : haveDnnl
const why = withDnnl
  ? 'oneDNN convs'
  : dnnlSetting === '0'
    ? 'own conv kernels (BNAS_NATIVE_DNNL=0)'
    : 'own conv kernels: oneDNN headers not found (`sudo apt-get install libdnnl-dev` gives faster convs)'

/** "onednn 2.6.3, 1 thread, avx512, binary conv avx512-vpopcntdq" from the addon's info(). */
function describe(info) {
  return `convs ${info.convs}, ${info.threads} thread${info.threads === 1 ? '' : 's'}, ${info.simd}, binary conv ${info.binaryConv}`
}

if (!force && existsSync(addonFile) && statSync(addonFile).mtimeMs >= newestSource()) {
  try {
    const info = smokeTest()
    // A build of the other kind (oneDNN installed or removed since, or BNAS_NATIVE_DNNL changed) is rebuilt.
    if (String(info.convs).startsWith('onednn') === withDnnl) {
      console.log(`bnas native addon: up to date (${describe(info)})`)
      process.exit(0)
    }
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

if (gypDir !== nativeDir) {
  // A build folder of its own: binding.gyp copied, src linked (its paths are relative to binding.gyp's folder).
  mkdirSync(gypDir, { recursive: true })
  copyFileSync(path.join(nativeDir, 'binding.gyp'), path.join(gypDir, 'binding.gyp'))
  const link = path.join(gypDir, 'src')
  rmSync(link, { recursive: true, force: true })
  symlinkSync(path.relative(gypDir, path.join(nativeDir, 'src')), link, 'dir')
}

// configure + build rather than rebuild: a failed build then leaves the previous working addon in place.
const args = [`--directory=${gypDir}`]
// Node's own headers, when installed beside the binary (Debian's nodejs, the official tarballs), spare node-gyp a
// download from nodejs.org, which offline machines cannot make.
const prefix = path.resolve(path.dirname(process.execPath), '..')
if (existsSync(path.join(prefix, 'include', 'node', 'node_api.h'))) args.push(`--nodedir=${prefix}`)

console.log(`bnas native addon: building (node-gyp, ${why})...`)
const started = Date.now()
// NODE_PATH: binding.gyp's `require('node-addon-api')` then resolves from a --build-dir outside the repository too.
const env = {
  ...process.env,
  NODE_PATH: [path.join(root, 'node_modules'), process.env.NODE_PATH].filter(Boolean).join(path.delimiter)
}
const gyp = (command, extra = []) =>
  spawnSync(process.execPath, [nodeGyp, command, ...args, ...extra], { cwd: root, encoding: 'utf8', env })
let build = gyp('configure', ['--', `-Dwith_dnnl=${withDnnl ? 1 : 0}`])
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
  console.log(`bnas native addon: built in ${seconds} s at ${path.relative(root, addonFile)}: ${describe(info)}`)
  if (!withDnnl && dnnlSetting !== '0')
    console.log(
      'bnas native addon: with oneDNN (`sudo apt-get install libdnnl-dev`, then --force) its convs are faster'
    )
} catch (error) {
  giveUp(`it built but does not load: ${error.message}`)
}
