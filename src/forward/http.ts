// forward/ owns moving bytes between client and sandbox once a request is admitted: HTTP through
// undici (http.ts), WebSockets as a socket pipe (ws.ts), and the headers that cross (headers.ts).
import type { IncomingMessage, ServerResponse } from 'node:http'
import { Agent, type Dispatcher } from 'undici'
import { sendError } from '../errors/respond.js'
import { HeaderDeadlines, type Expiring } from './header-deadlines.js'
import { buildResponseHeaders, type ResponseHeaderOptions } from './headers.js'
import type { GatewayErrorCode } from '../errors/codes.js'

export type UpstreamErrorKind = 'connect' | 'timeout' | 'reset' | 'other'

/** Where one request goes: an origin and the raw path+query (already built, SPEC §6). */
export interface ForwardTarget {
  readonly origin: string
  readonly path: string
}

/** Filled in by the exchange for the access log (a RequestRecord). */
export interface ForwardRecord {
  upstreamStatus: number
  upstreamMs: number
  bytesOut: number
  upstreamError: string | undefined
}

export interface ForwardContext {
  readonly sandboxId: string
  readonly record?: ForwardRecord | undefined
  readonly response: ResponseHeaderOptions
  /** Connection refused or reset: the runner cache entry is dropped (SPEC §5). */
  readonly onRunnerRefused: (sandboxId: string) => void
  /** The connection was refused for good: answers in place of the plain 502 (SPEC §10 wake on visit). */
  readonly onUnreachable?: (req: IncomingMessage, res: ServerResponse, sandboxId: string) => void
  /** Counts bytes moved, for the last-activity heartbeat of long responses. */
  readonly onStreamOpen?: (stream: HttpExchange) => void
  readonly onStreamClose?: (stream: HttpExchange) => void
}

export interface HttpForwarderOptions {
  readonly upstreamTimeoutMs: number
  readonly idleTimeoutMs: number
  readonly onUpstreamError?: (kind: UpstreamErrorKind) => void
  readonly onUpstreamHeaders?: (seconds: number) => void
}

/** Connect failures worth a brief retry (a dev server still starting): nothing was sent. */
const CONNECT_ERRORS: ReadonlySet<string> = new Set(['ECONNREFUSED', 'UND_ERR_CONNECT_TIMEOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN'])
const RESET_ERRORS: ReadonlySet<string> = new Set(['ECONNRESET', 'UND_ERR_SOCKET', 'EPIPE'])
const IDEMPOTENT: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE'])
const CONNECT_RETRY_DELAYS_MS = [50, 150, 300] as const
const kExchange = Symbol('exchange')

type Tracked = ServerResponse & { [kExchange]?: HttpExchange }

class HeadersTimeoutError extends Error {
  readonly code = 'GW_HEADERS_TIMEOUT'
}

function errorCode(err: unknown): string {
  const e = err as { code?: string; cause?: { code?: string } }
  return e?.code ?? e?.cause?.code ?? ''
}

/** Module-level listeners (ws style): per-request state is reached through a symbol, no closures. */
function resOnDrain(this: Tracked): void {
  this[kExchange]?.resumeUpstream()
}

function resOnClose(this: Tracked): void {
  this[kExchange]?.clientClosed()
}

function retryLater(exchange: HttpExchange): void {
  exchange.dispatch()
}

/**
 * One proxied exchange: an undici dispatch handler (legacy raw-header interface, no wrapping)
 * that pipes the upstream response into the ServerResponse with explicit backpressure:
 * `write() === false` pauses undici, `'drain'` resumes it.
 */
export class HttpExchange implements Dispatcher.DispatchHandler, Expiring {
  readonly sandboxId: string
  activitySlot = -1
  #forwarder: HttpForwarder
  #req: IncomingMessage
  #res: Tracked
  #opts: Dispatcher.DispatchOptions
  #ctx: ForwardContext
  #abort: ((err?: Error) => void) | undefined
  #resume: (() => void) | undefined
  /** Ticket in the forwarder's header deadlines while the response headers are awaited, else -1. */
  #headersTicket = -1
  #attempt = 0
  #bytesOut = 0
  #finished = false
  #streaming = false
  #drainHooked = false
  #dispatchedAt = 0

  constructor(forwarder: HttpForwarder, req: IncomingMessage, res: ServerResponse, opts: Dispatcher.DispatchOptions, ctx: ForwardContext) {
    this.#forwarder = forwarder
    this.#req = req
    this.#res = res as Tracked
    this.#opts = opts
    this.#ctx = ctx
    this.sandboxId = ctx.sandboxId
    this.#res[kExchange] = this
    this.#res.on('close', resOnClose)
  }

  bytesMoved(): number {
    return this.#bytesOut + (this.#req.socket?.bytesRead ?? 0)
  }

  dispatch(): void {
    if (this.#finished) return
    this.#dispatchedAt = performance.now()
    this.#forwarder.agent.dispatch(this.#opts, this)
  }

  abort(err: Error): void {
    this.#abort?.(err)
  }

  resumeUpstream(): void {
    this.#resume?.()
  }

  clientClosed(): void {
    if (this.#finished) return
    // Client gone before the end: record 499, then abort upstream (SPEC §6); onError sees
    // #finished and counts no upstream error.
    this.#finish()
    this.#abort?.(new Error('client closed'))
  }

  onConnect(abort: (err?: Error) => void): void {
    this.#abort = abort
    if (this.#finished) abort(new Error('client closed'))
  }

  onRequestSent(): void {
    // SPEC §6: the header clock starts once the request body is fully sent.
    const deadlines = this.#forwarder.headerDeadlines
    if (deadlines !== undefined) this.#headersTicket = deadlines.add(this)
  }

  /** The response headers did not come in time. */
  expire(): void {
    this.#headersTicket = -1
    this.abort(new HeadersTimeoutError('upstream headers timeout'))
  }

  #stopHeaderClock(): void {
    if (this.#headersTicket === -1) return
    this.#forwarder.headerDeadlines?.cancel(this.#headersTicket)
    this.#headersTicket = -1
  }

  onResponseStarted(): void {}

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void, statusText: string): boolean {
    if (statusCode < 200) return true // 1xx: Node writes its own 100-continue; others are dropped
    this.#stopHeaderClock()
    const ms = performance.now() - this.#dispatchedAt
    this.#forwarder.onUpstreamHeaders?.(ms / 1000)
    const rec = this.#ctx.record
    if (rec !== undefined) { rec.upstreamStatus = statusCode; rec.upstreamMs = ms }
    if (this.#finished) return false
    const headers = buildResponseHeaders(rawHeaders, this.#ctx.response, statusCode)
    this.#res.writeHead(statusCode, statusText || undefined, headers)
    this.#resume = resume
    this.#streaming = true
    this.#ctx.onStreamOpen?.(this)
    return true
  }

  onData(chunk: Buffer): boolean {
    this.#bytesOut += chunk.length
    if (this.#finished) return false
    const ok = this.#res.write(chunk)
    // 'drain' is listened to only once a write filled the buffer: most answers never do.
    if (!ok && !this.#drainHooked) { this.#drainHooked = true; this.#res.on('drain', resOnDrain) }
    return ok
  }

  onComplete(): void {
    if (this.#finished) return
    this.#res.end()
    this.#finish()
  }

  onError(err: Error): void {
    this.#stopHeaderClock()
    if (this.#finished) return
    const code = errorCode(err)
    const res = this.#res
    if (res.headersSent) {
      // Failure after headers: cut the connection, never append an error body (Caddy's rule).
      const kind: UpstreamErrorKind = code === 'UND_ERR_BODY_TIMEOUT' ? 'timeout' : 'reset'
      this.#forwarder.onUpstreamError?.(kind)
      if (this.#ctx.record !== undefined) this.#ctx.record.upstreamError = kind
      res.destroy()
      this.#finish()
      return
    }
    if (CONNECT_ERRORS.has(code) || RESET_ERRORS.has(code)) this.#ctx.onRunnerRefused(this.sandboxId)
    if (this.#canRetry(code)) {
      const delay = CONNECT_RETRY_DELAYS_MS[this.#attempt++] as number
      this.#abort = undefined
      setTimeout(retryLater, delay, this)
      return
    }
    let kind: UpstreamErrorKind
    let gw: GatewayErrorCode
    if (err instanceof HeadersTimeoutError || code === 'UND_ERR_HEADERS_TIMEOUT') { kind = 'timeout'; gw = 'UPSTREAM_TIMEOUT' }
    else if (CONNECT_ERRORS.has(code)) { kind = 'connect'; gw = 'UPSTREAM_UNREACHABLE' }
    else if (RESET_ERRORS.has(code)) { kind = 'reset'; gw = 'UPSTREAM_UNREACHABLE' }
    else { kind = 'other'; gw = 'UPSTREAM_UNREACHABLE' }
    this.#forwarder.onUpstreamError?.(kind)
    this.#finish()
    if (kind === 'connect' && this.#ctx.onUnreachable !== undefined) this.#ctx.onUnreachable(this.#req, res, this.sandboxId)
    else sendError(this.#req, res, gw)
  }

  /** Retry only when no byte of the request can have reached the app, or it is idempotent with no body. */
  #canRetry(code: string): boolean {
    if (this.#attempt >= CONNECT_RETRY_DELAYS_MS.length) return false
    const bodyUntouched = this.#opts.body == null || !this.#req.readableDidRead
    // A connect that timed out already used its whole budget: retrying would multiply it.
    if (CONNECT_ERRORS.has(code)) return bodyUntouched && code !== 'UND_ERR_CONNECT_TIMEOUT'
    if (RESET_ERRORS.has(code)) return this.#attempt === 0 && this.#opts.body == null && IDEMPOTENT.has(this.#opts.method)
    return false
  }

  #finish(): void {
    if (this.#finished) return
    this.#finished = true
    this.#stopHeaderClock()
    if (this.#drainHooked) this.#res.removeListener('drain', resOnDrain)
    this.#res.removeListener('close', resOnClose)
    this.#res[kExchange] = undefined
    if (this.#streaming) this.#ctx.onStreamClose?.(this)
    if (this.#ctx.record !== undefined) this.#ctx.record.bytesOut = this.#bytesOut
  }
}

/** HTTP forwarding over one undici Agent (a keep-alive pool per runner origin). */
export class HttpForwarder {
  readonly agent: Agent
  /** SPEC §6 upstream header timeout; undefined when UPSTREAM_TIMEOUT_SEC is 0. */
  readonly headerDeadlines: HeaderDeadlines | undefined
  readonly onUpstreamError: ((kind: UpstreamErrorKind) => void) | undefined
  readonly onUpstreamHeaders: ((seconds: number) => void) | undefined

  constructor(options: HttpForwarderOptions) {
    this.headerDeadlines = options.upstreamTimeoutMs > 0 ? new HeaderDeadlines(options.upstreamTimeoutMs) : undefined
    this.onUpstreamError = options.onUpstreamError
    this.onUpstreamHeaders = options.onUpstreamHeaders
    this.agent = new Agent({
      connections: null,
      pipelining: 1,
      keepAliveTimeout: 30_000,
      keepAliveMaxTimeout: 600_000,
      connectTimeout: 10_000,
      // Our own header timer starts when the body is sent; undici's own counts differently.
      headersTimeout: 0,
      bodyTimeout: options.idleTimeoutMs,
      maxHeaderSize: 64 * 1024,
      strictContentLength: true,
    })
  }

  forward(req: IncomingMessage, res: ServerResponse, target: ForwardTarget, headers: string[], ctx: ForwardContext): HttpExchange {
    const method = req.method ?? 'GET'
    const hasBody = req.headers['content-length'] !== undefined ? req.headers['content-length'] !== '0' : req.headers['transfer-encoding'] !== undefined
    const opts: Dispatcher.DispatchOptions = {
      origin: target.origin,
      path: target.path,
      method: method as Dispatcher.HttpMethod,
      headers,
      body: hasBody ? req : null,
      upgrade: null,
      headersTimeout: 0,
    }
    // Admitted: now the client may send the body it held back (listener/server.ts, checkContinue).
    if (hasBody && req.headers.expect !== undefined) res.writeContinue()
    const exchange = new HttpExchange(this, req, res, opts, ctx)
    exchange.dispatch()
    return exchange
  }

  async close(): Promise<void> {
    this.headerDeadlines?.stop()
    await this.agent.close()
  }
}
