#!/usr/bin/env node
// The `bnas` command: runs the built command line (out/main/cli.js), which `npm install` builds.
import { existsSync } from 'node:fs'
import { fileURLToPath, pathToFileURL } from 'node:url'

const cli = fileURLToPath(new URL('../out/main/cli.js', import.meta.url))
if (!existsSync(cli)) {
  process.stderr.write('bnas: the command line is not built yet. Run `npm run build` in the BNAS Studio folder.\n')
  process.exit(1)
}
await import(pathToFileURL(cli).href)
