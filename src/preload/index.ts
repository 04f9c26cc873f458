import { contextBridge, ipcRenderer } from 'electron'
import { IPC_EVENT_CHANNEL, ipcChannelOf, operationNames } from '../shared/contract'
import type { AppEvent, BnasApi, OperationFunctions } from '../shared/contract'

// The narrow bridge: one named function per contract operation, each bound to its own channel, plus the
// event feed. The renderer never gets ipcRenderer itself, so it cannot reach any other channel.
const call = Object.fromEntries(
  operationNames.map((op) => [op, (request: unknown) => ipcRenderer.invoke(ipcChannelOf(op), request)])
) as unknown as OperationFunctions

const api: BnasApi = {
  call,
  transport: 'ipc',
  onEvent(listener: (event: AppEvent) => void) {
    const handler = (_event: unknown, appEvent: AppEvent): void => listener(appEvent)
    ipcRenderer.on(IPC_EVENT_CHANNEL, handler)
    return () => ipcRenderer.removeListener(IPC_EVENT_CHANNEL, handler)
  }
}

contextBridge.exposeInMainWorld('bnas', api)
