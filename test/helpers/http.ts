/**
 * Small HTTP helpers for the e2e suite: a request function that sends an explicit Host header to
 * 127.0.0.1 (so `3000-sbx.preview.test` needs no DNS), polling with a deadline, free ports and
 * unique ids. Everything here is transport only; assertions live in the tests.
 */
import http from 'node:http'
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http'
import net from 'node:net'
import { createHash, randomBytes } from 'node:crypto'

export interface Reply {
  readonly status: number
  readonly headers: IncomingHttpHeaders
  readonly rawHeaders: readonly string[]
  readonly body: Buffer
  readonly text: string
  /** Parses the body as JSON (throws with the text when it is not JSON). */
  json(): unknown
}

export interface RequestOptions {
  /** Gateway port on 127.0.0.1. */
  readonly port: number
  /** Host header to send (e.g. `3000-sbx1.preview.test`). */
  readonly host: string
  readonly method?: string
  /** Request target exactly as it goes on the wire (origin-form, unnormalised). */
  readonly path?: string
  readonly headers?: OutgoingHttpHeaders
  readonly body?: Buffer | string
  readonly timeoutMs?: number
}

/** Sends one request on a fresh connection (no keep-alive pool shared between tests). */
export function request(opts: RequestOptions): Promise<Reply> {
  const timeoutMs = opts.timeoutMs ?? 15_000
  return new Promise<Reply>((resolve, reject) => {
    const headers: OutgoingHttpHeaders = { host: opts.host, ...(opts.headers ?? {}) }
    if (opts.body !== undefined && headers['content-length'] === undefined && headers['transfer-encoding'] === undefined) {
      headers['content-length'] = Buffer.byteLength(opts.body)
    }
    const req = http.request({
      host: '127.0.0.1',
      port: opts.port,
      method: opts.method ?? 'GET',
      path: opts.path ?? '/',
      headers,
      agent: false,
    })
    const timer = setTimeout(() => {
      req.destroy(new Error(`request ${opts.method ?? 'GET'} ${opts.host}${opts.path ?? '/'} timed out after ${timeoutMs} ms`))
    }, timeoutMs)
    req.on('error', (err) => { clearTimeout(timer); reject(err) })
    req.on('response', (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('error', (err) => { clearTimeout(timer); reject(err) })
      res.on('end', () => {
        clearTimeout(timer)
        const body = Buffer.concat(chunks)
        const text = body.toString('utf8')
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          rawHeaders: res.rawHeaders,
          body,
          text,
          json(): unknown {
            try {
              return JSON.parse(text)
            } catch {
              throw new Error(`response body is not JSON (status ${res.statusCode}): ${text.slice(0, 300)}`)
            }
          },
        })
      })
    })
    if (opts.body !== undefined) req.end(opts.body)
    else req.end()
  })
}

/** All values of a header in raw order (case-insensitive name). */
export function headerValues(rawHeaders: readonly string[], name: string): string[] {
  const out: string[] = []
  const lower = name.toLowerCase()
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    if ((rawHeaders[i] ?? '').toLowerCase() === lower) out.push(rawHeaders[i + 1] ?? '')
  }
  return out
}

/** A header that must appear at most once; returns it or undefined. */
export function singleHeader(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name.toLowerCase()]
  if (Array.isArray(v)) return v.join(', ')
  return v
}

export interface WaitOptions {
  readonly timeoutMs: number
  readonly intervalMs?: number
  readonly message?: string
}

/** Polls `probe` until it returns a value other than undefined/false, or the deadline passes. */
export async function waitUntil<T>(probe: () => T | undefined | false | Promise<T | undefined | false>, opts: WaitOptions): Promise<T> {
  const deadline = Date.now() + opts.timeoutMs
  const interval = opts.intervalMs ?? 25
  let lastError: unknown
  for (;;) {
    try {
      const v = await probe()
      if (v !== undefined && v !== false) return v
    } catch (err) {
      lastError = err
    }
    if (Date.now() >= deadline) {
      const why = lastError instanceof Error ? ` (last error: ${lastError.message})` : ''
      throw new Error(`${opts.message ?? 'condition'} not met within ${opts.timeoutMs} ms${why}`)
    }
    await new Promise<void>((r) => setTimeout(r, interval))
  }
}

/**
 * Probes until `done(answer)`. A probe sent more than `withinMs` after `since` whose answer is not
 * done fails: judged by when each probe was sent, so a loaded machine's latency never reads as a
 * change that came late, and a stale answer to a late probe always fails. Resolves with when the
 * first done probe was sent (ms after `since`).
 */
export async function settlesWithin<T>(since: number, withinMs: number, probe: () => Promise<T>, done: (answer: T) => boolean, stale: (answer: T, sentMs: number) => string): Promise<number> {
  for (;;) {
    const sentMs = Date.now() - since
    const answer = await probe()
    if (done(answer)) return sentMs
    if (sentMs > withinMs) throw new Error(stale(answer, sentMs))
    await new Promise<void>((r) => setTimeout(r, 20))
  }
}

/** Rejects when `p` takes longer than `ms`. */
export async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`${what}: timed out after ${ms} ms`)), ms) }),
    ])
  } finally {
    if (timer !== undefined) clearTimeout(timer)
  }
}

/** A port that was free a moment ago (bind 0, read, close). */
export function freePort(): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const srv = net.createServer()
    srv.unref()
    srv.on('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address()
      if (addr === null || typeof addr === 'string') { reject(new Error('no address')); return }
      const { port } = addr
      srv.close(() => resolve(port))
    })
  })
}

let idCounter = 0
/** A sandbox id / token unique in this process: `[A-Za-z0-9-]` only, so it is a valid label part. */
export function newId(prefix = 'sbx'): string {
  idCounter += 1
  return `${prefix}-${process.pid.toString(36)}${idCounter.toString(36)}${randomBytes(3).toString('hex')}`
}

/** A token-like string in `[A-Za-z0-9]` (usable as a signed-token label). */
export function newToken(prefix = 'tok'): string {
  idCounter += 1
  return `${prefix}${idCounter.toString(36)}${randomBytes(8).toString('hex')}`
}

export function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex')
}
