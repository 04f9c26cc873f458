import { randomBytes, timingSafeEqual } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Duplex } from 'node:stream'
import { WebSocketServer, type WebSocket } from 'ws'
import { parseRequestFrame, type ServerMessage } from '../../shared/contract'
import type { EventHub } from '../events/event-hub'
import type { Dispatcher } from '../handlers/dispatcher'
import { contentSecurityPolicy } from '../security/csp'
import { serveFile } from './static-files'

export const API_PATH = '/api'
const TOKEN_COOKIE = 'bnas_token'
/** Requests are small; anything bigger is a mistake or an attack. */
const MAX_MESSAGE_BYTES = 1 << 20

export interface BrowserServerOptions {
  /** Folder of the built renderer (out/renderer); nothing outside it is served. */
  rendererDir: string
  dispatcher: Dispatcher
  events: EventHub
  port?: number
  /** Given in tests; otherwise a fresh random secret per launch. */
  secret?: string
  /** Dev mode: a connect-style middleware (Vite's) serves the renderer with hot reload instead of files. */
  devMiddleware?: (req: IncomingMessage, res: ServerResponse, next: () => void) => void
}

export interface BrowserServer {
  /** The URL to open, secret included. */
  url: string
  port: number
  secret: string
  httpServer: Server
  close(): Promise<void>
}

/**
 * Browser mode: the renderer and the contract served over HTTP and a WebSocket on 127.0.0.1 only.
 * Every request must hold this launch's secret (in the URL the first time, then in a same-site cookie),
 * come with a Host header naming this server (against DNS rebinding), and a WebSocket must come from
 * this server's own Origin.
 */
export async function startBrowserServer(options: BrowserServerOptions): Promise<BrowserServer> {
  const secret = options.secret ?? randomBytes(32).toString('base64url')
  const httpServer = createServer()
  const sockets = new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE_BYTES })
  await new Promise<void>((resolveListen, rejectListen) => {
    httpServer.once('error', rejectListen)
    httpServer.listen(options.port ?? 0, '127.0.0.1', () => resolveListen())
  })
  const port = (httpServer.address() as AddressInfo).port
  const allowedHosts = new Set([`127.0.0.1:${port}`, `localhost:${port}`])
  const allowedOrigins = new Set([...allowedHosts].map((host) => `http://${host}`))
  const csp = contentSecurityPolicy([`ws://127.0.0.1:${port}`, `ws://localhost:${port}`])
  const securityHeaders = {
    'content-security-policy': csp,
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'cross-origin-opener-policy': 'same-origin'
  }

  const holdsSecret = (request: IncomingMessage, url: URL): boolean =>
    safeEqual(url.searchParams.get('token'), secret) || safeEqual(readCookie(request, TOKEN_COOKIE), secret)

  httpServer.on('request', (request, response) => {
    const url = new URL(request.url ?? '/', `http://127.0.0.1:${port}`)
    if (!allowedHosts.has(request.headers.host ?? '')) return reject(response, 421, 'wrong host')
    if (request.method !== 'GET' && request.method !== 'HEAD') return reject(response, 405, 'method not allowed')
    if (!holdsSecret(request, url)) {
      return reject(response, 401, 'This BNAS Studio server needs the secret printed when it started: open that URL.')
    }
    const headers: Record<string, string> = {
      ...securityHeaders,
      // The cookie lets the page load its scripts and reconnect without the secret in every URL.
      'set-cookie': `${TOKEN_COOKIE}=${secret}; HttpOnly; SameSite=Strict; Path=/`
    }
    if (options.devMiddleware !== undefined) {
      for (const [name, value] of Object.entries(headers))
        if (name !== 'content-security-policy') response.setHeader(name, value)
      options.devMiddleware(request, response, () => reject(response, 404, 'not found'))
      return
    }
    void serveFile(options.rendererDir, url.pathname, response, headers)
  })

  httpServer.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = new URL(request.url ?? '/', `http://127.0.0.1:${port}`)
    if (url.pathname !== API_PATH) {
      // Vite's hot-reload socket in dev mode handles its own upgrades on other paths.
      if (options.devMiddleware === undefined) refuseUpgrade(socket, 404, 'Not Found')
      return
    }
    const origin = request.headers.origin
    if (!allowedHosts.has(request.headers.host ?? '')) return refuseUpgrade(socket, 421, 'Misdirected Request')
    if (origin !== undefined && !allowedOrigins.has(origin)) return refuseUpgrade(socket, 403, 'Forbidden')
    if (!holdsSecret(request, url)) return refuseUpgrade(socket, 401, 'Unauthorized')
    sockets.handleUpgrade(request, socket, head, (client) => sockets.emit('connection', client, request))
  })

  sockets.on('connection', (client: WebSocket) => {
    const send = (message: ServerMessage): void => {
      if (client.readyState === client.OPEN) client.send(JSON.stringify(message))
    }
    const unsubscribe = options.events.subscribe((event) => send({ kind: 'event', event }))
    client.on('close', unsubscribe)
    client.on('error', unsubscribe)
    client.on('message', (data, isBinary) => {
      if (isBinary)
        return send({
          kind: 'reply',
          id: null,
          ok: false,
          error: { code: 'bad-message', message: 'binary frames are not accepted; send JSON text' }
        })
      const frame = parseRequestFrame(data.toString())
      if (!frame.ok) return send({ kind: 'reply', id: frame.id, ok: false, error: frame.error })
      void options.dispatcher
        .dispatch(frame.value.op, frame.value.payload)
        .then((result) => send({ kind: 'reply', id: frame.id, ...result }))
    })
  })

  return {
    url: `http://127.0.0.1:${port}/?token=${secret}`,
    port,
    secret,
    httpServer,
    close: async () => {
      for (const client of sockets.clients) client.terminate()
      sockets.close()
      httpServer.closeAllConnections()
      await new Promise<void>((resolveClose) => httpServer.close(() => resolveClose()))
    }
  }
}

function safeEqual(candidate: string | null | undefined, secret: string): boolean {
  if (candidate === null || candidate === undefined) return false
  const a = Buffer.from(candidate)
  const b = Buffer.from(secret)
  return a.length === b.length && timingSafeEqual(a, b)
}

function readCookie(request: IncomingMessage, name: string): string | undefined {
  for (const part of (request.headers.cookie ?? '').split(';')) {
    const [key, ...rest] = part.trim().split('=')
    if (key === name) return rest.join('=')
  }
  return undefined
}

function reject(response: ServerResponse, status: number, message: string): void {
  response.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' })
  response.end(message)
}

function refuseUpgrade(socket: Duplex, status: number, text: string): void {
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`)
}
