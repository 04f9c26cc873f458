import { createReadStream } from 'node:fs'
import { stat } from 'node:fs/promises'
import type { ServerResponse } from 'node:http'
import { extname, resolve, sep } from 'node:path'

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.wasm': 'application/wasm'
}

/**
 * Maps a URL path to a file inside `root`, or null when the path tries to leave it (`..`, encoded
 * separators, NUL bytes). Only files under the built renderer are ever served.
 */
export function resolveInside(root: string, urlPath: string): string | null {
  let decoded: string
  try {
    decoded = decodeURIComponent(urlPath)
  } catch {
    return null
  }
  if (decoded.includes('\0') || decoded.includes('\\')) return null
  const base = resolve(root)
  const target = resolve(base, '.' + (decoded.startsWith('/') ? decoded : '/' + decoded))
  if (target !== base && !target.startsWith(base + sep)) return null
  return target
}

/** Serves one file; answers 404 for anything that is not a regular file inside the root. */
export async function serveFile(
  root: string,
  urlPath: string,
  response: ServerResponse,
  headers: Record<string, string>
): Promise<void> {
  const path = resolveInside(root, urlPath === '/' ? '/index.html' : urlPath)
  const info = path === null ? null : await stat(path).catch(() => null)
  if (path === null || info === null || !info.isFile()) {
    response.writeHead(404, { 'content-type': 'text/plain; charset=utf-8', ...headers })
    response.end('not found')
    return
  }
  response.writeHead(200, {
    'content-type': CONTENT_TYPES[extname(path)] ?? 'application/octet-stream',
    'content-length': String(info.size),
    'cache-control': 'no-cache',
    ...headers
  })
  createReadStream(path).pipe(response)
}
