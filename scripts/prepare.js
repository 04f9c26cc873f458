// Runs on `npm install`: builds the app so that `npx bnas` and `npm start` work straight away.
// A failed build does not fail the install: `npm start` builds again and reports the error there.
import { spawnSync } from 'node:child_process'

if (process.env.BNAS_SKIP_PREPARE_BUILD === '1') process.exit(0)
const result = spawnSync('npx', ['electron-vite', 'build'], { stdio: 'inherit', shell: process.platform === 'win32' })
if (result.status !== 0) {
  console.warn('bnas-studio: the build failed during install; run `npm run build` to see why.')
}
