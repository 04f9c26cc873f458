import { ref } from 'vue'
import type { BnasApi } from '../../../shared/contract'
import { createWebSocketApi } from './websocket-api'

/** Whether the transport to the engine side is up (always true over Electron IPC). */
export const connected = ref(window.bnas !== undefined)

/**
 * The one api object of the renderer: the preload's in Electron, a WebSocket client in browser mode.
 * The browser-mode page arrives with the launch secret in its URL; the server also sets it as a cookie, so
 * the secret is dropped from the address bar (and from history) once read.
 */
function createApi(): BnasApi {
  if (window.bnas !== undefined) return window.bnas
  const url = new URL(window.location.href)
  const token = url.searchParams.get('token')
  if (token !== null) {
    url.searchParams.delete('token')
    window.history.replaceState(window.history.state, '', url.toString())
  }
  const socketUrl = `ws://${window.location.host}/api${token === null ? '' : `?token=${encodeURIComponent(token)}`}`
  return createWebSocketApi(socketUrl, (isUp) => (connected.value = isUp))
}

export const api: BnasApi = createApi()
