// Runs on `npm install`: builds the app so that `npx bnas` and `npm start` work straight away.
// A failed build does not fail the install: `npm start` builds again and reports the error there.
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

if (process.env.BNAS_SKIP_PREPARE_BUILD === '1') process.exit(0)
// The native kernels (native/, oneDNN) first; build-native.js never fails and says why when it cannot build.
spawnSync(process.execPath, [fileURLToPath(new URL('./build-native.js', import.meta.url))], { stdio: 'inherit' })
const result = spawnSync('npx', ['electron-vite', 'build'], { stdio: 'inherit', shell: process.platform === 'win32' })
if (result.status !== 0) {
  console.warn('bnas-studio: the build failed during install; run `npm run build` to see why.')
}
