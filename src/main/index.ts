import { app, BrowserWindow, dialog, ipcMain, session, shell } from 'electron'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { IPC_EVENT_CHANNEL, ipcChannelOf, operationNames } from '../shared/contract'
import { createAppCore, type AppCore } from './app/app-core'
import { contentSecurityPolicy } from './security/csp'
import { APP_VERSION } from './version'
import { createWindowOptions, isExternalLink } from './window/window-options'

// Electron main process: a window, its security settings, and the contract bound to IPC.
// All computation happens in the engine worker started by the app core.
const here = fileURLToPath(new URL('.', import.meta.url))
let core: AppCore | null = null

function bindContract(appCore: AppCore): void {
  for (const op of operationNames) {
    // The dispatcher validates the payload and answers errors as values; nothing thrown crosses IPC.
    ipcMain.handle(ipcChannelOf(op), (_event, payload: unknown) => appCore.dispatcher.dispatch(op, payload))
  }
  appCore.events.subscribe((event) => {
    for (const window of BrowserWindow.getAllWindows()) window.webContents.send(IPC_EVENT_CHANNEL, event)
  })
}

function createWindow(): void {
  const window = new BrowserWindow(
    createWindowOptions(join(here, '../preload/index.cjs'), join(here, '../../resources/icon.png'))
  )
  window.once('ready-to-show', () => window.show())
  window.webContents.setWindowOpenHandler(({ url }) => {
    if (isExternalLink(url)) void shell.openExternal(url)
    return { action: 'deny' }
  })
  window.webContents.on('will-navigate', (event, url) => {
    if (url !== window.webContents.getURL()) {
      event.preventDefault()
      if (isExternalLink(url)) void shell.openExternal(url)
    }
  })
  const devUrl = process.env.ELECTRON_RENDERER_URL
  if (!app.isPackaged && devUrl !== undefined) void window.loadURL(devUrl)
  else void window.loadFile(join(here, '../renderer/index.html'))
}

void app.whenReady().then(() => {
  const isDev = !app.isPackaged && process.env.ELECTRON_RENDERER_URL !== undefined
  session.defaultSession.webRequest.onHeadersReceived((details, callback) => {
    // Dev mode loads from Vite, whose hot reload needs its own socket; the built app gets the strict policy.
    const csp = isDev ? contentSecurityPolicy(['ws:']) : contentSecurityPolicy()
    callback({ responseHeaders: { ...details.responseHeaders, 'Content-Security-Policy': [csp] } })
  })
  session.defaultSession.setPermissionRequestHandler((_contents, _permission, callback) => callback(false))
  core = createAppCore({
    workerPath: join(here, 'engine-worker.js'),
    version: APP_VERSION,
    mode: 'electron',
    desktop: {
      chooseFolder: async (title) => {
        const window = BrowserWindow.getFocusedWindow()
        const options = { title: title ?? 'Choose a folder', properties: ['openDirectory' as const] }
        const result =
          window === null ? await dialog.showOpenDialog(options) : await dialog.showOpenDialog(window, options)
        return result.canceled ? null : (result.filePaths[0] ?? null)
      },
      showFolder: (path) => void shell.openPath(path)
    }
  })
  bindContract(core)
  createWindow()
  app.on('activate', () => {
    if (BrowserWindow.getAllWindows().length === 0) createWindow()
  })
})

app.on('window-all-closed', () => {
  if (process.platform !== 'darwin') app.quit()
})

app.on('will-quit', () => {
  void core?.stop()
})
