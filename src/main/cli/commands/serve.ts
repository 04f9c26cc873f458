import { existsSync } from 'node:fs'
import { join } from 'node:path'
import type { Command } from 'commander'
import { createAppCore } from '../../app/app-core'
import { BACKEND_OPTION_HELP } from '../../engine/backend'
import { appRoot, builtRendererDir, builtWorkerPath } from '../../app/paths'
import { startBrowserServer } from '../../server/browser-server'
import { APP_VERSION } from '../../version'
import { computeHeadline } from '../../../shared/compute'
import type { EngineStatus } from '../../../shared/contract'

interface ServeOptions {
  port: string
  open: boolean
  dev: boolean
  backend: string
  reason?: string
}

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('start browser mode: the app served on 127.0.0.1, reachable only with the printed URL and its secret')
    .option('--port <port>', 'port to listen on (0 picks a free one)', '0')
    .option('--open', 'open the system browser at the URL', false)
    .option('--dev', 'serve the renderer from its sources with hot reload', false)
    .option('--backend <name>', BACKEND_OPTION_HELP, 'auto')
    .option('--reason <text>', 'why browser mode is used instead of the desktop window (shown in the app)')
    .action(async (options: ServeOptions) => serve(options))
}

async function serve(options: ServeOptions): Promise<void> {
  const port = Number(options.port)
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new Error(`--port must be an integer 0..65535, got ${options.port}`)
  const root = appRoot()
  const workerPath = builtWorkerPath(root)
  const rendererDir = builtRendererDir(root)
  if (!existsSync(workerPath) || (!options.dev && !existsSync(rendererDir))) {
    throw new Error('the app is not built yet: run `npm run build` (or `npm start`, which builds first)')
  }
  const core = createAppCore({
    workerPath,
    version: APP_VERSION,
    mode: 'browser',
    modeReason: options.reason,
    backend: options.backend
  })
  const devMiddleware = options.dev ? await createDevMiddleware(root) : undefined
  const server = await startBrowserServer({
    rendererDir,
    dispatcher: core.dispatcher,
    events: core.events,
    port,
    devMiddleware: devMiddleware?.middlewares
  })

  process.stdout.write(`BNAS Studio (browser mode) is running.\nOpen: ${server.url}\n`)
  if (options.reason !== undefined) process.stdout.write(`(${options.reason})\n`)
  process.stdout.write('Press Ctrl+C to stop.\n')
  // Once, in the app's words, where training will run (the terminal's only word on GPUs: see scripts/start.js).
  let told = false
  const tell = (status: EngineStatus): void => {
    if (told || status.state === 'starting') return
    told = true
    process.stdout.write(`Compute: ${computeHeadline(status)}. The Start page says why and how to get a faster one.\n`)
  }
  tell(core.engine.status)
  core.engine.onStatus(tell)
  if (options.open) {
    const { default: open } = await import('open')
    await open(server.url).catch((error: unknown) => {
      process.stdout.write(`Could not open a browser (${String(error)}); open the URL above yourself.\n`)
    })
  }

  const shutdown = async (): Promise<void> => {
    await server.close()
    await devMiddleware?.close()
    await core.stop()
    process.exit(0)
  }
  process.once('SIGINT', () => void shutdown())
  process.once('SIGTERM', () => void shutdown())
}

/** Vite in middleware mode over the renderer sources: hot reload for `npm run dev` without Electron. */
async function createDevMiddleware(root: string) {
  const { createServer } = await import('vite')
  const { default: vue } = await import('@vitejs/plugin-vue')
  return createServer({
    configFile: false,
    root: join(root, 'src', 'renderer'),
    plugins: [vue()],
    server: { middlewareMode: true },
    appType: 'spa'
  })
}
