/**
 * A fake Daytona runner proxy on 127.0.0.1:0. Requests arrive as
 * `/sandboxes/{id}/toolbox/proxy/{port}{rest}` (previews) or `/sandboxes/{id}/toolbox{rest}`
 * (toolbox); a plain upstream (embedded registry port URL) sends `{rest}` alone. The first segment
 * of `rest` picks a route; anything unknown is echoed, so byte-exact path tests can use any path.
 *
 * Routes (after the prefix):
 *   /echo…            JSON {method, url (raw req.url), rawHeaders, headers, bodyLength, bodySha256, …}
 *   /sse?count=N      text/event-stream, one event every `interval` ms (default 50), flushed
 *   /big?bytes=N      N bytes streamed with backpressure (Content-Length unless chunked=1)
 *   /drip             an endless response: 1 KiB every 50 ms until the client goes away
 *   /abort-mid        headers and some bytes, then the connection is destroyed
 *   /upload           sink: counts bytes and sha256; with stallAfter=N stops reading after N bytes
 *                     until releaseUploads() is called
 *   /hang             never answers
 *   /set-cookie?c=…   one Set-Cookie per `c` parameter (URL-encoded values)
 *   /redirect?loc=…   302 (or `status`) with that Location
 *   /cors             sets the app's own Access-Control-* headers (also answers OPTIONS itself)
 *   /hop-headers      answers with hop-by-hop headers named in Connection
 *   /status?code=N    the app's own error answer
 *   /files/download?path=P     toolbox daemon: the bytes of file P (`files`), 404 when absent
 *   /files/upload-v2?path=P    toolbox daemon (POST): stores the body (the file part of a
 *                              multipart/form-data body, or the raw body) as file P
 * WebSocket (any path): echo, subprotocol negotiation (prefers `chat.v1`), permessage-deflate.
 */
import http from 'node:http'
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http'
import type { Duplex } from 'node:stream'
import { EventEmitter } from 'node:events'
import { createHash } from 'node:crypto'
import { WebSocketServer } from 'ws'
import type { WebSocket } from 'ws'

export interface RunnerRequest {
  readonly seq: number
  readonly kind: 'http' | 'ws'
  readonly method: string
  /** Raw request target as received. */
  readonly url: string
  readonly rawHeaders: readonly string[]
  readonly headers: IncomingHttpHeaders
  /** From the `/sandboxes/{id}/toolbox[/proxy/{port}]` prefix; null for a plain upstream. */
  readonly sandboxId: string | null
  readonly port: string | null
  readonly toolbox: boolean
  /** Path and query after the prefix (raw). */
  readonly rest: string
  readonly route: string
  receivedBytes: number
  sentBytes: number
  /** The response was fully written. */
  completed: boolean
  /** The connection went away before the response was complete. */
  closedEarly: boolean
  readonly closed: Promise<void>
}

export interface EchoBody {
  readonly method: string
  readonly url: string
  readonly sandboxId: string | null
  readonly port: string | null
  readonly toolbox: boolean
  readonly rest: string
  readonly rawHeaders: readonly string[]
  readonly headers: Readonly<Record<string, string | string[] | undefined>>
  readonly bodyLength: number
  readonly bodySha256: string
}

const PREFIX_RE = /^\/sandboxes\/([^/?]+)\/toolbox(?:\/proxy\/(\d+))?(.*)$/s
const PATTERN = Buffer.alloc(64 * 1024, 'abcdefghijklmnopqrstuvwxyz0123456789')

export class FakeRunner {
  readonly server: http.Server
  readonly wss: WebSocketServer
  readonly events = new EventEmitter()
  readonly #log: RunnerRequest[] = []
  readonly #stalled = new Set<() => void>()
  readonly #timers = new Set<NodeJS.Timeout>()
  readonly #openResponses = new Set<ServerResponse>()
  /** The toolbox daemon's files (path → bytes), for `/files/download` and `/files/upload-v2`. */
  readonly files = new Map<string, Buffer>()
  #seq = 0
  #port = 0

  private constructor() {
    this.events.setMaxListeners(0)
    this.server = http.createServer((req, res) => { this.#onRequest(req, res) })
    this.server.keepAliveTimeout = 5_000
    this.server.headersTimeout = 0
    this.server.requestTimeout = 0
    this.wss = new WebSocketServer({
      noServer: true,
      perMessageDeflate: { threshold: 0 },
      handleProtocols: (protocols: Set<string>): string | false => {
        if (protocols.has('chat.v1')) return 'chat.v1'
        const first = protocols.values().next()
        return first.done === true ? false : first.value
      },
    })
    this.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => { this.#onUpgrade(req, socket, head) })
    // `/ws-cookie`: the 101 carries a cookie named like the gateway's and one with a Domain.
    this.wss.on('headers', (headers: string[], req: IncomingMessage) => {
      if ((req.url ?? '').includes('/ws-cookie')) headers.push('Set-Cookie: daytona-sandbox-auth-planted=evil; Path=/', 'Set-Cookie: app=1; Domain=preview.test; Path=/')
    })
  }

  static async start(): Promise<FakeRunner> {
    const r = new FakeRunner()
    await new Promise<void>((resolve, reject) => {
      r.server.once('error', reject)
      r.server.listen(0, '127.0.0.1', () => resolve())
    })
    const addr = r.server.address()
    if (addr === null || typeof addr === 'string') throw new Error('fake runner has no port')
    r.#port = addr.port
    return r
  }

  get port(): number { return this.#port }
  get url(): string { return `http://127.0.0.1:${this.#port}` }

  /** Requests seen, oldest first; optionally only those for one sandbox. */
  requests(sandboxId?: string): RunnerRequest[] {
    return sandboxId === undefined ? [...this.#log] : this.#log.filter((r) => r.sandboxId === sandboxId)
  }

  /** Every request whose raw target mentions `text`. */
  requestsMentioning(text: string): RunnerRequest[] {
    return this.#log.filter((r) => r.url.includes(text))
  }

  waitForRequest(pred: (r: RunnerRequest) => boolean, timeoutMs: number): Promise<RunnerRequest> {
    const found = this.#log.find(pred)
    if (found !== undefined) return Promise.resolve(found)
    return new Promise<RunnerRequest>((resolve, reject) => {
      const on = (r: RunnerRequest): void => {
        if (!pred(r)) return
        clearTimeout(timer)
        this.events.off('request', on)
        resolve(r)
      }
      const timer = setTimeout(() => {
        this.events.off('request', on)
        reject(new Error(`fake runner: no matching request within ${timeoutMs} ms`))
      }, timeoutMs)
      this.events.on('request', on)
    })
  }

  /** Lets stalled `/upload?stallAfter=N` sinks read on. */
  releaseUploads(): void {
    for (const resume of this.#stalled) resume()
    this.#stalled.clear()
  }

  async close(): Promise<void> {
    for (const t of this.#timers) clearTimeout(t)
    this.#timers.clear()
    this.releaseUploads()
    for (const ws of this.wss.clients) ws.terminate()
    this.wss.close()
    for (const res of this.#openResponses) res.destroy()
    this.server.closeAllConnections()
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
  }

  #record(req: IncomingMessage, kind: 'http' | 'ws', closed: Promise<void>): RunnerRequest {
    const url = req.url ?? '/'
    const m = PREFIX_RE.exec(url)
    const rest = m === null ? url : (m[3] === undefined || m[3] === '' ? '' : m[3])
    const restPath = rest.split('?')[0] ?? ''
    const route = (restPath.split('/')[1] ?? '')
    this.#seq += 1
    const r: RunnerRequest = {
      seq: this.#seq,
      kind,
      method: req.method ?? 'GET',
      url,
      rawHeaders: req.rawHeaders,
      headers: req.headers,
      sandboxId: m === null ? null : (m[1] ?? null),
      port: m === null ? null : (m[2] ?? null),
      toolbox: m !== null && m[2] === undefined,
      rest,
      route,
      receivedBytes: 0,
      sentBytes: 0,
      completed: false,
      closedEarly: false,
      closed,
    }
    this.#log.push(r)
    return r
  }

  #timer(fn: () => void, ms: number): NodeJS.Timeout {
    const t = setTimeout(() => { this.#timers.delete(t); fn() }, ms)
    this.#timers.add(t)
    return t
  }

  #onRequest(req: IncomingMessage, res: ServerResponse): void {
    let onClosed: () => void = () => {}
    const closed = new Promise<void>((resolve) => { onClosed = resolve })
    const rec = this.#record(req, 'http', closed)
    this.#openResponses.add(res)
    res.on('close', () => {
      this.#openResponses.delete(res)
      rec.completed = res.writableFinished
      rec.closedEarly = !res.writableFinished
      onClosed()
    })
    req.on('error', () => { /* client (the gateway) went away */ })
    this.events.emit('request', rec)
    const query = new URL(rec.rest === '' ? '/' : rec.rest, 'http://runner.invalid').searchParams

    switch (rec.route) {
      case 'sse': return this.#sse(rec, res, query)
      case 'big': return this.#big(rec, req, res, query)
      case 'drip': return this.#drip(rec, req, res)
      case 'abort-mid': return this.#abortMid(rec, req, res)
      case 'upload': return this.#upload(rec, req, res, query)
      case 'hang': req.resume(); return
      case 'set-cookie': return this.#drainThen(rec, req, () => {
        res.setHeader('set-cookie', query.getAll('c'))
        res.setHeader('content-type', 'text/plain')
        res.end('cookies set')
      })
      case 'redirect': return this.#drainThen(rec, req, () => {
        res.writeHead(Number(query.get('status') ?? '302'), { location: query.get('loc') ?? '/' })
        res.end()
      })
      case 'cors': return this.#drainThen(rec, req, () => {
        res.writeHead(req.method === 'OPTIONS' ? 204 : 200, {
          'access-control-allow-origin': '*',
          'access-control-allow-methods': 'GET',
          'access-control-allow-headers': 'x-app-header',
          'x-app-handled': req.method ?? 'GET',
          'content-type': 'text/plain',
        })
        res.end(req.method === 'OPTIONS' ? undefined : 'app cors')
      })
      case 'hop-headers': return this.#drainThen(rec, req, () => {
        res.writeHead(200, {
          connection: 'X-Resp-Hop',
          'x-resp-hop': 'must-not-reach-client',
          'x-normal': 'yes',
          'content-type': 'text/plain',
        })
        res.end('hop')
      })
      case 'files': return this.#files(rec, req, res, query)
      case 'status': return this.#drainThen(rec, req, () => {
        const code = Number(query.get('code') ?? '500')
        res.writeHead(code, { 'content-type': 'application/json', 'x-app-error': 'yes' })
        res.end(JSON.stringify({ appError: true, code }))
      })
      default: return this.#echo(rec, req, res)
    }
  }

  #drainThen(rec: RunnerRequest, req: IncomingMessage, fn: () => void): void {
    req.on('data', (c: Buffer) => { rec.receivedBytes += c.length })
    req.on('end', fn)
  }

  #echo(rec: RunnerRequest, req: IncomingMessage, res: ServerResponse): void {
    const hash = createHash('sha256')
    req.on('data', (c: Buffer) => { rec.receivedBytes += c.length; hash.update(c) })
    req.on('end', () => {
      const body: EchoBody = {
        method: rec.method,
        url: rec.url,
        sandboxId: rec.sandboxId,
        port: rec.port,
        toolbox: rec.toolbox,
        rest: rec.rest,
        rawHeaders: rec.rawHeaders,
        headers: rec.headers,
        bodyLength: rec.receivedBytes,
        bodySha256: hash.digest('hex'),
      }
      const text = JSON.stringify(body)
      res.writeHead(200, { 'content-type': 'application/json', 'x-runner-echo': '1' })
      res.end(text)
      rec.sentBytes = Buffer.byteLength(text)
    })
  }

  #sse(rec: RunnerRequest, res: ServerResponse, query: URLSearchParams): void {
    const count = Number(query.get('count') ?? '20')
    const interval = Number(query.get('interval') ?? '50')
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' })
    res.flushHeaders()
    let i = 0
    const tick = (): void => {
      if (res.destroyed) return
      i += 1
      const ev = `id: ${i}\nevent: tick\ndata: tick ${i}\n\n`
      res.write(ev)
      rec.sentBytes += Buffer.byteLength(ev)
      if (i >= count) { res.end(); return }
      this.#timer(tick, interval)
    }
    this.#timer(tick, interval)
  }

  #big(rec: RunnerRequest, req: IncomingMessage, res: ServerResponse, query: URLSearchParams): void {
    req.resume()
    const total = Number(query.get('bytes') ?? String(1024 * 1024))
    const chunked = query.get('chunked') === '1'
    res.writeHead(200, chunked
      ? { 'content-type': 'application/octet-stream' }
      : { 'content-type': 'application/octet-stream', 'content-length': String(total) })
    const pump = (): void => {
      while (rec.sentBytes < total) {
        if (res.destroyed) return
        const n = Math.min(PATTERN.length, total - rec.sentBytes)
        rec.sentBytes += n
        if (!res.write(n === PATTERN.length ? PATTERN : PATTERN.subarray(0, n))) {
          res.once('drain', pump)
          return
        }
      }
      res.end()
    }
    pump()
  }

  #drip(rec: RunnerRequest, req: IncomingMessage, res: ServerResponse): void {
    req.resume()
    res.writeHead(200, { 'content-type': 'application/octet-stream' })
    const chunk = PATTERN.subarray(0, 1024)
    const tick = (): void => {
      if (res.destroyed) return
      res.write(chunk)
      rec.sentBytes += chunk.length
      this.#timer(tick, 50)
    }
    tick()
  }

  #abortMid(rec: RunnerRequest, req: IncomingMessage, res: ServerResponse): void {
    req.resume()
    res.writeHead(200, { 'content-type': 'application/octet-stream' })
    res.write(PATTERN.subarray(0, 4096))
    rec.sentBytes += 4096
    this.#timer(() => { res.socket?.destroy() }, 100)
  }

  #upload(rec: RunnerRequest, req: IncomingMessage, res: ServerResponse, query: URLSearchParams): void {
    const stallAfter = query.get('stallAfter') === null ? Infinity : Number(query.get('stallAfter'))
    const hash = createHash('sha256')
    let stalled = false
    req.on('data', (c: Buffer) => {
      rec.receivedBytes += c.length
      hash.update(c)
      if (!stalled && rec.receivedBytes >= stallAfter) {
        stalled = true
        req.pause()
        this.#stalled.add(() => req.resume())
      }
    })
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ bytes: rec.receivedBytes, sha256: hash.digest('hex') }))
    })
  }

  #files(rec: RunnerRequest, req: IncomingMessage, res: ServerResponse, query: URLSearchParams): void {
    const op = (rec.rest.split('?')[0] ?? '').slice('/files'.length)
    const path = query.get('path')
    if (op === '/download' && (req.method === 'GET' || req.method === 'HEAD') && path !== null) {
      return this.#drainThen(rec, req, () => {
        const data = this.files.get(path)
        if (data === undefined) {
          res.writeHead(404, { 'content-type': 'application/json' })
          res.end(JSON.stringify({ statusCode: 404, message: `file not found: ${path}`, code: 'FILE_NOT_FOUND', source: 'DAYTONA_DAEMON' }))
          return
        }
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(data.length) })
        rec.sentBytes = req.method === 'HEAD' ? 0 : data.length
        res.end(req.method === 'HEAD' ? undefined : data)
      })
    }
    if (op === '/upload-v2' && req.method === 'POST' && path !== null) {
      const chunks: Buffer[] = []
      req.on('data', (c: Buffer) => { rec.receivedBytes += c.length; chunks.push(c) })
      req.on('end', () => {
        const body = Buffer.concat(chunks)
        const data = multipartFile(req.headers['content-type'], body) ?? body
        this.files.set(path, data)
        res.writeHead(200, { 'content-type': 'application/json' })
        res.end(JSON.stringify({ path, bytes: data.length, sha256: createHash('sha256').update(data).digest('hex') }))
      })
      return
    }
    return this.#echo(rec, req, res)
  }

  #onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    let onClosed: () => void = () => {}
    const closed = new Promise<void>((resolve) => { onClosed = resolve })
    const rec = this.#record(req, 'ws', closed)
    socket.on('close', () => onClosed())
    socket.on('error', () => { /* peer went away */ })
    this.events.emit('request', rec)
    // `/ws-hang`: never answers the handshake (closes when the gateway does).
    if (rec.route === 'ws-hang') { socket.on('end', () => socket.destroy()); return }
    // `/ws-status?code=N`: answers N (not 101) and keeps the connection open, counting any byte that
    // still arrives in receivedBytes: the gateway must not tunnel after such an answer.
    if (rec.route === 'ws-status') {
      const q = new URLSearchParams(rec.rest.split('?')[1] ?? '')
      const code = Number(q.get('code') ?? '404')
      const body = `no websocket here (${code})`
      // `stall=1`: announces 100 more bytes than it sends, and never sends them.
      const length = body.length + (q.get('stall') === '1' ? 100 : 0)
      socket.write(
        `HTTP/1.1 ${code} ${http.STATUS_CODES[code] ?? 'Status'}\r\nContent-Type: text/plain\r\nContent-Length: ${length}\r\n` +
        'Set-Cookie: daytona-sandbox-auth-planted=evil\r\nSet-Cookie: app=1; Domain=preview.test\r\nConnection: keep-alive\r\n\r\n' + body,
      )
      rec.completed = true
      socket.on('data', (d: Buffer) => { rec.receivedBytes += d.length })
      socket.on('end', () => socket.destroy())
      return
    }
    this.wss.handleUpgrade(req, socket, head, (ws: WebSocket) => {
      rec.completed = true
      ws.on('message', (data, isBinary) => {
        const size = Array.isArray(data) ? data.reduce((n, b) => n + b.length, 0) : (data instanceof ArrayBuffer ? data.byteLength : data.length)
        rec.receivedBytes += size
        ws.send(data, { binary: isBinary })
        rec.sentBytes += size
      })
      ws.on('error', () => { /* peer went away */ })
    })
  }
}

/** The content of the first part of a multipart/form-data body, or null when it is not one. */
function multipartFile(contentType: string | undefined, body: Buffer): Buffer | null {
  const m = /^multipart\/form-data;.*boundary="?([^";]+)"?/i.exec(contentType ?? '')
  if (m === null) return null
  const delimiter = Buffer.from(`--${m[1]}`)
  const start = body.indexOf(delimiter)
  if (start === -1) return null
  const headersEnd = body.indexOf('\r\n\r\n', start)
  const end = body.indexOf(Buffer.from(`\r\n--${m[1]}`), headersEnd)
  if (headersEnd === -1 || end === -1) return null
  return body.subarray(headersEnd + 4, end)
}
