// `npm start` / `npm run dev`: the desktop window where Electron runs, browser mode where it does not.
// Electron's binary is not fetched by `npm install` (its download is blocked on some machines and would fail
// the install); the first start tries to fetch it once, and falls back to browser mode, saying why.
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, readdirSync, statSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

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
  const result = spawnSync('npx', ['electron-vite', 'build'], { cwd: root, stdio: 'inherit' })
  if (result.status !== 0) {
    console.error('The build failed (see above); fix it and run `npm start` again.')
    process.exit(1)
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
  console.log('Electron is installed without its binary; trying to download it once…')
  const download = spawnSync(process.execPath, [join(packageDir, 'install.js')], {
    cwd: packageDir,
    encoding: 'utf8',
    timeout: 120_000
  })
  if (download.status !== 0) {
    const why =
      (download.stderr || download.stdout || '').split('\n').find((line) => line.trim() !== '') ?? 'unknown error'
    return { reason: `Electron's binary could not be downloaded (${why.trim()})` }
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
    spawn(electron.path, [root], { cwd: root, stdio: 'inherit' }).on('exit', (code) => process.exit(code ?? 0))
  }
} else {
  const reason = `Electron is not available here (${electron.reason}), so BNAS Studio runs in browser mode.`
  console.log(reason)
  if (dev) spawnSync('npx', ['electron-vite', 'build'], { cwd: root, stdio: 'inherit' })
  else ensureBuilt()
  const args = [join(root, 'bin', 'bnas.js'), 'serve', '--open', '--reason', reason, ...(dev ? ['--dev'] : [])]
  const server = spawn(process.execPath, args, { cwd: root, stdio: 'inherit' })
  for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => server.kill(signal))
  server.on('exit', (code) => process.exit(code ?? 0))
}
