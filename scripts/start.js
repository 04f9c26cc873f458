// `npm start` / `npm run dev`: the desktop window where Electron runs, browser mode where it does not.
// Electron's binary is not fetched by `npm install` (its download is blocked on some machines and would fail
// the install); a start tries to fetch it, remembers a failure for a day, and falls back to browser mode, saying why.
// Known third-party noise on stderr (Dawn's Vulkan warnings) is filtered out; the app says what matters itself.
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { homedir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { filterChildStderr } from './quiet-stderr.js'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const dev = process.argv.includes('--dev')
const require = createRequire(import.meta.url)

function newestMtime(dir) {
  let newest = 0
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs)
  }
  return newest
}

function ensureBuilt() {
  const marker = join(root, 'out', 'main', 'cli.js')
  const sourcesChanged = !existsSync(marker) || newestMtime(join(root, 'src')) > statSync(marker).mtimeMs
  if (!sourcesChanged) return
  console.log('Building BNAS Studio…')
  const started = Date.now()
  // Errors only: the bundler's chunk listing and size advice are for developers (`npm run build` shows them).
  const result = spawnSync('npx', ['electron-vite', 'build', '--logLevel', 'error'], { cwd: root, stdio: 'inherit' })
  if (result.status !== 0) {
    console.error('The build failed (see above); fix it and run `npm start` again.')
    process.exit(1)
  }
  console.log(`Built in ${((Date.now() - started) / 1000).toFixed(1)} s.`)
}

// A failed download of Electron's binary is remembered for a day, so that every start does not wait on the network.
const electronMemo = join(
  process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'),
  'bnas-studio',
  'electron-download-failed.json'
)
const RETRY_AFTER_MS = 24 * 3600 * 1000

function recentDownloadFailure() {
  try {
    const memo = JSON.parse(readFileSync(electronMemo, 'utf8'))
    return Date.now() - memo.at < RETRY_AFTER_MS ? memo.reason : undefined
  } catch {
    return undefined
  }
}

function rememberDownloadFailure(reason) {
  try {
    mkdirSync(dirname(electronMemo), { recursive: true })
    writeFileSync(electronMemo, JSON.stringify({ at: Date.now(), reason }))
  } catch {
    // Only a cache: without it the next start tries the download again.
  }
}

/** The Electron binary's path, or the reason there is none. */
function findElectron() {
  if (process.env.BNAS_NO_ELECTRON === '1') return { reason: 'BNAS_NO_ELECTRON=1 is set' }
  let packageDir
  try {
    packageDir = dirname(require.resolve('electron/package.json'))
  } catch {
    return { reason: 'the electron package is not installed' }
  }
  const tryLoad = () => {
    try {
      return { path: require('electron') }
    } catch (error) {
      return { reason: error.message }
    }
  }
  const first = tryLoad()
  if (first.path !== undefined) return first
  const failedBefore = recentDownloadFailure()
  if (failedBefore !== undefined)
    return { reason: `${failedBefore}; not retried until a day has passed, or delete ${electronMemo}` }
  console.log('Electron is installed without its binary; trying to download it once…')
  const download = spawnSync(process.execPath, [join(packageDir, 'install.js')], {
    cwd: packageDir,
    encoding: 'utf8',
    timeout: 120_000
  })
  if (download.status !== 0) {
    const why =
      (download.stderr || download.stdout || '').split('\n').find((line) => line.trim() !== '') ?? 'unknown error'
    const reason = `Electron's binary could not be downloaded (${why.trim()})`
    rememberDownloadFailure(reason)
    return { reason }
  }
  return tryLoad()
}

const electron = findElectron()
if (electron.path !== undefined) {
  if (dev) {
    spawn('npx', ['electron-vite', 'dev'], { cwd: root, stdio: 'inherit' }).on('exit', (code) =>
      process.exit(code ?? 0)
    )
  } else {
    ensureBuilt()
    const app = spawn(electron.path, [root], { cwd: root, stdio: ['inherit', 'inherit', 'pipe'] })
    filterChildStderr(app)
    app.on('exit', (code) => process.exit(code ?? 0))
  }
} else {
  const reason = `Electron is not available here (${electron.reason}), so BNAS Studio runs in browser mode.`
  console.log(reason)
  if (dev) spawnSync('npx', ['electron-vite', 'build'], { cwd: root, stdio: 'inherit' })
  else ensureBuilt()
  const args = [join(root, 'bin', 'bnas.js'), 'serve', '--open', '--reason', reason, ...(dev ? ['--dev'] : [])]
  const server = spawn(process.execPath, args, { cwd: root, stdio: ['inherit', 'inherit', 'pipe'] })
  filterChildStderr(server)
  for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => server.kill(signal))
  server.on('exit', (code) => process.exit(code ?? 0))
}
