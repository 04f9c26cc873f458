import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs'
import { request as httpRequest } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import type { AppCore } from '../../src/main/app/app-core'
import { startBrowserServer, type BrowserServer } from '../../src/main/server/browser-server'
import type { ServerMessage } from '../../src/shared/contract'
import { createTestAppCore, waitFor } from '../helpers/app-core'

let core: AppCore
let server: BrowserServer
let rendererDir: string

beforeAll(async () => {
  // A stand-in renderer folder, with a file beside it that must never be reachable.
  const base = mkdtempSync(join(tmpdir(), 'bnas-server-'))
  rendererDir = join(base, 'renderer')
  mkdirSync(rendererDir)
  writeFileSync(join(rendererDir, 'index.html'), '<!doctype html><title>BNAS</title>')
  writeFileSync(join(base, 'secret.txt'), 'outside the renderer')
  core = createTestAppCore()
  server = await startBrowserServer({ rendererDir, dispatcher: core.dispatcher, events: core.events })
})

afterAll(async () => {
  await server?.close()
  await core?.stop()
})

function get(
  path: string,
  headers: Record<string, string> = {}
): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: '127.0.0.1', port: server.port, path, headers: { host: `127.0.0.1:${server.port}`, ...headers } },
      (res) => {
        let body = ''
        res.on('data', (chunk: Buffer) => (body += chunk.toString()))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }))
      }
    )
    req.on('error', reject)
    req.end()
  })
}

/** Opens a socket and resolves with it once open, or rejects with the HTTP status the server refused it with. */
function connect(path: string, headers: Record<string, string> = {}): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(`ws://127.0.0.1:${server.port}${path}`, { headers })
    socket.once('open', () => resolve(socket))
    socket.once('unexpected-response', (_req, res) => reject(new Error(`refused with ${res.statusCode}`)))
    socket.once('error', reject)
  })
}

function collect(socket: WebSocket): ServerMessage[] {
  const messages: ServerMessage[] = []
  socket.on('message', (data) => messages.push(JSON.parse(data.toString()) as ServerMessage))
  return messages
}

const withToken = (): string => `/api?token=${server.secret}`

describe('browser-mode server', () => {
  it('listens on the loopback address only', () => {
    expect((server.httpServer.address() as AddressInfo).address).toBe('127.0.0.1')
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/\?token=[\w-]{40,}$/)
  })

  it('refuses a WebSocket without the secret, with a wrong one, or from a foreign origin', async () => {
    await expect(connect('/api')).rejects.toThrow('refused with 401')
    await expect(connect('/api?token=not-the-secret')).rejects.toThrow('refused with 401')
    await expect(connect(withToken(), { origin: 'http://evil.example' })).rejects.toThrow('refused with 403')
    await expect(connect(withToken(), { origin: `http://127.0.0.1:${server.port + 1}` })).rejects.toThrow(
      'refused with 403'
    )
  })

  it('refuses pages without the secret and requests naming another host', async () => {
    expect((await get('/')).status).toBe(401)
    expect((await get(`/?token=${server.secret}`, { host: 'attacker.example' })).status).toBe(421)
  })

  it('serves the renderer with its secret, a cookie and a CSP, and nothing outside its folder', async () => {
    const page = await get(`/?token=${server.secret}`)
    expect(page.status).toBe(200)
    expect(page.body).toContain('<title>BNAS</title>')
    expect(String(page.headers['content-security-policy'])).toContain("script-src 'self'")
    const cookie = String(page.headers['set-cookie'])
    expect(cookie).toContain('HttpOnly')
    const asCookie = { cookie: `bnas_token=${server.secret}` }
    expect((await get('/index.html', asCookie)).status).toBe(200)
    for (const escape of ['/../secret.txt', '/%2e%2e/secret.txt', '/..%2fsecret.txt', '/%2e%2e%5csecret.txt']) {
      const response = await get(escape, asCookie)
      expect(response.status, escape).toBe(404)
      expect(response.body).not.toContain('outside the renderer')
    }
  })

  it('answers a request through the contract and reports the engine backend', async () => {
    const socket = await connect(withToken(), { origin: `http://127.0.0.1:${server.port}` })
    const messages = collect(socket)
    await waitFor(() => (core.engine.status.state === 'starting' ? undefined : true), 60_000, 'engine start')
    socket.send(JSON.stringify({ kind: 'request', id: 1, op: 'app.info', payload: {} }))
    const reply = await waitFor(() => messages.find((m) => m.kind === 'reply' && m.id === 1), 10_000, 'app.info reply')
    expect(reply).toMatchObject({
      ok: true,
      value: { name: 'BNAS Studio', mode: 'browser', engine: { state: 'ready', backend: 'cpu' } }
    })
    socket.close()
  })

  it('answers malformed messages with a clear error and stays up', async () => {
    const socket = await connect(withToken())
    const messages = collect(socket)
    socket.send('{this is not json')
    socket.send(JSON.stringify({ kind: 'request', id: 2, op: 'genotypes.parse', payload: { text: 5 } }))
    socket.send(JSON.stringify({ kind: 'request', id: 3, op: 'no.such.op', payload: {} }))
    socket.send(
      JSON.stringify({ kind: 'request', id: 4, op: 'genotypes.parse', payload: { text: 'Genotype(normal=' } })
    )
    socket.send(Buffer.from([1, 2, 3]), { binary: true })
    await waitFor(() => (messages.length >= 5 ? true : undefined), 10_000, 'five replies')
    expect(messages).toContainEqual({
      kind: 'reply',
      id: null,
      ok: false,
      error: { code: 'bad-message', message: 'message is not valid JSON' }
    })
    expect(messages.find((m) => m.kind === 'reply' && m.id === 2)).toMatchObject({
      ok: false,
      error: { code: 'invalid-request', field: 'payload.text' }
    })
    expect(messages.find((m) => m.kind === 'reply' && m.id === 3)).toMatchObject({
      ok: false,
      error: { code: 'unknown-operation' }
    })
    expect(messages.find((m) => m.kind === 'reply' && m.id === 4)).toMatchObject({
      ok: false,
      error: { code: 'failed' }
    })
    // Still serving, on the same socket and on a new one.
    socket.send(JSON.stringify({ kind: 'request', id: 5, op: 'genotypes.published', payload: {} }))
    const published = await waitFor(
      () => messages.find((m) => m.kind === 'reply' && m.id === 5),
      10_000,
      'published reply'
    )
    expect(published).toMatchObject({ ok: true })
    const again = await connect(withToken())
    again.close()
    socket.close()
  })
})
