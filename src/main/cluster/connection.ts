import { readFileSync } from 'node:fs'
import { isIP } from 'node:net'
import { Redis, type RedisOptions } from 'ioredis'
import { redisUrlSchema } from '../../shared/cluster'

/** Redis key names of the cluster, all under one prefix so one Redis can hold other data beside it. */
export const CLUSTER_PREFIX = 'bnas'
export const QUEUE_NAME = 'jobs'
export const EVENTS_STREAM = `${CLUSTER_PREFIX}:events`
export const CONTROL_CHANNEL = `${CLUSTER_PREFIX}:control`
export const WORKERS_KEY = `${CLUSTER_PREFIX}:workers`
/** Per run: who runs it and how fast (a hash of worker, status, imagesPerSecond, step, totalSteps, message). */
export const latestKey = (runId: string): string => `${CLUSTER_PREFIX}:latest:${runId}`
export const controlKey = (runId: string): string => `${CLUSTER_PREFIX}:control:${runId}`

export interface TlsFiles {
  /** PEM file of the CA that signed the server's certificate (a private CA). */
  ca?: string
  /** PEM files of a client certificate and key, for servers that ask for one. */
  cert?: string
  key?: string
}

/**
 * Connection options for a Redis URL. The password (and user) come from the URL; rediss:// turns TLS on, with the
 * CA and client certificate files where given. BullMQ needs maxRetriesPerRequest null: a command waits for a
 * reconnect instead of failing, so a Redis restart does not fail the jobs in flight.
 */
export function redisOptions(url: string, tls: TlsFiles = {}): RedisOptions {
  const checked = redisUrlSchema.safeParse(url)
  if (!checked.success)
    throw new Error(`invalid Redis URL ${JSON.stringify(redactUrl(url))}: ${checked.error.issues[0]?.message}`)
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    throw new Error(`invalid Redis URL ${JSON.stringify(redactUrl(url))}: it cannot be parsed`)
  }
  const secure = parsed.protocol === 'rediss:'
  if (!secure && (tls.ca ?? tls.cert ?? tls.key) !== undefined)
    throw new Error('TLS files were given, but the URL is redis://: use rediss:// for TLS')
  const db = parsed.pathname.replace(/^\//, '')
  if (db !== '' && !/^\d+$/.test(db))
    throw new Error(`invalid Redis URL: the path must be a database number, got '/${db}'`)
  const read = (what: string, path: string | undefined): Buffer | undefined => {
    if (path === undefined) return undefined
    try {
      return readFileSync(path)
    } catch (error) {
      throw new Error(`cannot read the TLS ${what} file ${path}: ${(error as Error).message}`)
    }
  }
  return {
    host: parsed.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1',
    port: parsed.port === '' ? 6379 : Number(parsed.port),
    ...(parsed.username === '' ? {} : { username: decodeURIComponent(parsed.username) }),
    ...(parsed.password === '' ? {} : { password: decodeURIComponent(parsed.password) }),
    ...(db === '' ? {} : { db: Number(db) }),
    ...(secure
      ? {
          tls: {
            // SNI takes host names only; for an IP address the certificate is still checked against it.
            ...(isIP(parsed.hostname.replace(/^\[|\]$/g, '')) === 0 ? { servername: parsed.hostname } : {}),
            ...(tls.ca === undefined ? {} : { ca: read('CA', tls.ca) }),
            ...(tls.cert === undefined ? {} : { cert: read('certificate', tls.cert) }),
            ...(tls.key === undefined ? {} : { key: read('key', tls.key) })
          }
        }
      : {}),
    maxRetriesPerRequest: null,
    // Keep trying: a worker outlives a Redis restart. Capped at 2 s between tries.
    retryStrategy: (times) => Math.min(times * 100, 2000)
  }
}

/** The URL with its password hidden, for logs and the UI. */
export function redactUrl(url: string): string {
  return url.replace(/^(rediss?:\/\/)([^@/]*)@/, (_all, scheme: string, auth: string) => {
    const user = auth.includes(':') ? auth.slice(0, auth.indexOf(':')) : ''
    return `${scheme}${user}${user === '' && !auth.includes(':') ? '' : ':'}***@`
  })
}

export function connect(url: string, tls: TlsFiles = {}): Redis {
  return new Redis({ ...redisOptions(url, tls), lazyConnect: false })
}

/** Fails within `ms` with a clear message when nothing answers at the URL (instead of retrying forever). */
export async function checkReachable(redis: Redis, url: string, ms = 5000): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  // The connection's own errors (refused, TLS, DNS) say why nothing answers.
  let last: string | undefined
  const onError = (error: Error): void => void (last = error.message)
  redis.on('error', onError)
  try {
    await Promise.race([
      redis.ping(),
      new Promise((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new Error(
                `no Redis answers at ${redactUrl(url)} within ${ms / 1000} s${last === undefined ? '' : ` (${last})`}: is redis-server running there, and the URL right?`
              )
            ),
          ms
        )
      })
    ])
  } catch (error) {
    const message = (error as Error).message
    if (/NOAUTH|WRONGPASS|invalid password|AUTH/i.test(message))
      throw new Error(`Redis at ${redactUrl(url)} refused the login (${message}): check the password in the URL`)
    throw error
  } finally {
    clearTimeout(timer)
    redis.off('error', onError)
  }
}
