import { request as httpRequest, STATUS_CODES, type ClientRequest, type IncomingMessage } from 'node:http'
import { request as httpsRequest } from 'node:https'
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import { sendRawError } from '../errors/respond.js'
import type { LiveStream } from '../resolve/activity.js'
import { ERRORS, type GatewayErrorCode } from '../errors/codes.js'
import { buildResponseHeaders, type ResponseHeaderOptions } from './headers.js'
import type { UpstreamErrorKind } from './http.js'

/** Where an upgrade goes: the runner origin and the raw request target. */
export interface UpgradeTarget {
  readonly origin: string
  readonly path: string
}

export interface UpgradeContext {
  readonly sandboxId: string
  /** What the gateway does to the runner's answer headers (cookies, CORS, toolbox Location), as for requests. */
  readonly response: ResponseHeaderOptions
  /** How long the runner may take to answer the handshake (UPSTREAM_TIMEOUT_SEC; 0: no limit). */
  readonly timeoutMs: number
  readonly onRunnerRefused: (sandboxId: string) => void
  /** Connection refused: the refusal to send in place of the plain 502 (SPEC §10), never a redirect. */
  readonly onUnreachable?: (client: Duplex, sandboxId: string) => Promise<{ code: GatewayErrorCode; extra: string }>
  readonly onOpen?: (tunnel: WsTunnel) => void
  readonly onClose?: (tunnel: WsTunnel) => void
  /** Called exactly once however the tunnel ends (connect failure included). */
  readonly onFinally?: (tunnel: WsTunnel) => void
  readonly onUpstreamError?: (kind: UpstreamErrorKind) => void
  /** The status the client got: the runner's 101 or other answer, or the gateway's 502/504. */
  readonly onResult?: (status: number) => void
}

const kTunnel = Symbol('tunnel')
/** FIN + close opcode, 2-byte payload: status 1001. */
const GOING_AWAY = Buffer.from([0x88, 0x02, 0x03, 0xe9])
type TunnelSocket = Socket & { [kTunnel]?: WsTunnel }
type TunnelSide = Duplex & { [kTunnel]?: WsTunnel }
type Handshake = ClientRequest & { [kTunnel]?: WsTunnel }
type Answer = IncomingMessage & { [kTunnel]?: WsTunnel }
const EMPTY = Buffer.alloc(0)
const REFUSED = new Set(['ECONNREFUSED', 'ECONNRESET'])

class HandshakeTimeout extends Error {
  override readonly name = 'HandshakeTimeout'
}

function onSwitched(this: Handshake, res: IncomingMessage, socket: Socket, head: Buffer): void {
  this[kTunnel]?.switched(res, socket, head)
}

function onAnswer(this: Handshake, res: IncomingMessage): void {
  this[kTunnel]?.answered(res)
}

function onHandshakeError(this: Handshake, err: Error): void {
  this[kTunnel]?.failed(err)
}

function onHandshakeTimeout(t: WsTunnel): void {
  t.timedOut()
}

function answerOnEnd(this: Answer): void {
  this[kTunnel]?.answerEnded()
}

function answerOnError(this: Answer): void {
  this[kTunnel]?.destroy()
}

function sideOnError(this: TunnelSide): void {
  this.destroy()
}

function sideOnClose(this: TunnelSide): void {
  this[kTunnel]?.ended()
}

/** Names and values as undici hands them to buildResponseHeaders. */
function asRaw(raw: readonly string[]): Buffer[] {
  const out: Buffer[] = new Array(raw.length)
  for (let i = 0; i < raw.length; i++) out[i] = Buffer.from(raw[i] as string, 'latin1')
  return out
}

function headString(status: number, headers: readonly string[]): string {
  let s = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Unknown'}\r\n`
  for (let i = 0; i < headers.length; i += 2) s += `${headers[i]}: ${headers[i + 1]}\r\n`
  return `${s}\r\n`
}

/**
 * A WebSocket (or any Upgrade) after authentication. The handshake goes to the runner through
 * node:http's client (one connection, no pool), so the runner's answer is parsed before anything
 * else moves: only a 101 opens the tunnel, and only then are the client's early bytes (`head`)
 * replayed. Any other answer is relayed as a response (headers filtered as for requests) and the
 * connection closed; without that check a runner answering 404 would leave a raw pipe open through
 * which a client could send any request to the runner, unchecked (nginx tunnels only after a 101
 * too). Once open, the sockets are piped both ways (`.pipe()` keeps backpressure); an error or close
 * on either side destroys both. Not stream.pipeline: measured here it holds ~25 KiB per idle tunnel
 * against ~11 KiB for two pipes with module-level listeners (ws `socketOn*` style), and idle
 * WebSockets are what a preview gateway holds most of. No per-message work happens here.
 */
export class WsTunnel implements LiveStream {
  readonly sandboxId: string
  activitySlot = -1
  #client: Duplex & Partial<Socket>
  #handshake: Handshake | undefined
  #answer: Answer | undefined
  #upstream: TunnelSocket | undefined
  #head: Buffer
  #ctx: UpgradeContext
  #timer: NodeJS.Timeout | undefined
  #open = false
  #done = false
  #reported = false

  constructor(client: Duplex, head: Buffer, target: UpgradeTarget, headers: readonly string[], method: string, ctx: UpgradeContext) {
    this.sandboxId = ctx.sandboxId
    this.#client = client as Duplex & Partial<Socket>
    this.#head = head
    this.#ctx = ctx
    const url = new URL(target.origin)
    const secure = url.protocol === 'https:'
    const options = {
      host: url.hostname,
      port: Number(url.port || (secure ? 443 : 80)),
      method,
      path: target.path,
      headers: ['Host', url.host, ...headers],
      setHost: false,
      agent: false,
    } as const
    const hs: Handshake = secure ? httpsRequest({ ...options, servername: url.hostname }) : httpRequest(options)
    hs[kTunnel] = this
    hs.on('upgrade', onSwitched)
    hs.on('response', onAnswer)
    hs.on('error', onHandshakeError)
    hs.end()
    this.#handshake = hs
    if (ctx.timeoutMs > 0) this.#timer = setTimeout(onHandshakeTimeout, ctx.timeoutMs, this)
    const side = client as TunnelSide
    side[kTunnel] = this
    side.on('error', sideOnError)
    side.on('close', sideOnClose)
    this.#client.setNoDelay?.(true)
    this.#client.setTimeout?.(0)
  }

  bytesMoved(): number {
    const up = this.#upstream
    return up === undefined ? 0 : (up.bytesRead ?? 0) + (up.bytesWritten ?? 0)
  }

  /** The runner switched protocols: its 101 (filtered) to the client, the client's early bytes to it, then the pipes. */
  switched(res: IncomingMessage, up: TunnelSocket, upHead: Buffer): void {
    this.#settled()
    const client = this.#client as TunnelSide
    if (client.destroyed) { up.destroy(); this.#finally(); return }
    const headers = buildResponseHeaders(asRaw(res.rawHeaders), this.#ctx.response, 101)
    headers.push('Connection', 'Upgrade', 'Upgrade', res.headers.upgrade ?? 'websocket')
    client.write(headString(101, headers))
    if (upHead.length > 0) client.write(upHead)
    up.setNoDelay(true)
    if (this.#head.length > 0) up.write(this.#head)
    this.#head = EMPTY
    this.#upstream = up
    this.#open = true
    up[kTunnel] = this
    up.on('error', sideOnError)
    up.on('close', sideOnClose)
    client.pipe(up)
    up.pipe(client)
    this.#ctx.onOpen?.(this)
    this.#result(101)
  }

  /** Any other answer: relayed as a response, then the client's connection is closed; nothing it sent reaches the runner. */
  answered(res: Answer): void {
    this.#settled()
    const status = res.statusCode ?? 502
    const headers = buildResponseHeaders(asRaw(res.rawHeaders), this.#ctx.response, status)
    headers.push('Connection', 'close')
    this.#result(status)
    this.#answer = res
    res[kTunnel] = this
    res.on('end', answerOnEnd)
    res.on('error', answerOnError)
    res.on('aborted', answerOnError)
    const client = this.#client
    client.write(headString(status, headers))
    res.pipe(client, { end: false })
    // Whatever the client sent after its handshake is read and dropped, so that closing does not reset.
    client.resume()
  }

  answerEnded(): void {
    const client = this.#client as Partial<Socket> & Duplex
    if (client.destroySoon !== undefined) client.destroySoon()
    else client.end()
    this.#finally()
  }

  timedOut(): void {
    this.#timer = undefined
    this.#handshake?.destroy(new HandshakeTimeout())
  }

  failed(err: Error): void {
    if (this.#done || this.#answer !== undefined) { this.destroy(); this.#finally(); return }
    this.#settled()
    const code = (err as NodeJS.ErrnoException).code ?? ''
    const client = this.#client as Socket
    if (err instanceof HandshakeTimeout) {
      this.#ctx.onUpstreamError?.('timeout')
      this.#result(504)
      sendRawError(client, 'UPSTREAM_TIMEOUT')
      this.#finally()
      return
    }
    if (REFUSED.has(code)) this.#ctx.onRunnerRefused(this.sandboxId)
    this.#ctx.onUpstreamError?.(code === 'ECONNREFUSED' ? 'connect' : code === 'ECONNRESET' ? 'reset' : 'other')
    if (code === 'ECONNREFUSED' && this.#ctx.onUnreachable !== undefined) {
      this.#ctx.onUnreachable(client, this.sandboxId).then(
        (a) => { this.#result(ERRORS[a.code].status); sendRawError(client, a.code, undefined, a.extra); this.#finally() },
        () => { this.#result(502); sendRawError(client, 'UPSTREAM_UNREACHABLE'); this.#finally() },
      )
      return
    }
    this.#result(502)
    sendRawError(client, 'UPSTREAM_UNREACHABLE')
    this.#finally()
  }

  /** The handshake has its outcome: no more timer, no more handshake events, nothing of it kept. */
  #settled(): void {
    if (this.#timer !== undefined) { clearTimeout(this.#timer); this.#timer = undefined }
    const hs = this.#handshake
    if (hs !== undefined) {
      hs.removeListener('upgrade', onSwitched)
      hs.removeListener('response', onAnswer)
      this.#handshake = undefined
    }
  }

  /** The status for the access log and metrics, once (499: the client left before any answer, as nginx logs it). */
  #result(status: number): void {
    if (this.#reported) return
    this.#reported = true
    this.#ctx.onResult?.(status)
  }

  #finally(): void {
    if (this.#done) return
    this.#done = true
    this.#ctx.onFinally?.(this)
  }

  ended(): void {
    // Either side closing tears down both: a half-open tunnel would leak.
    this.#upstream?.destroy()
    this.#client.destroy()
    if (this.#open) {
      this.#open = false
      this.#ctx.onClose?.(this)
      this.#finally()
    } else if (!this.#done) {
      // The client left during the handshake or the relayed answer.
      this.destroy()
      this.#result(499)
      this.#finally()
    }
  }

  /**
   * Drain deadline: stop reading the runner, send the client a WebSocket close frame with code
   * 1001 (going away; server frames are unmasked, RFC 6455 §5.5.1), then close both sides.
   */
  goingAway(): void {
    const up = this.#upstream
    if (up === undefined) { this.destroy(); return }
    up.pause()
    up.unpipe(this.#client)
    if (this.#open && this.#client.writable) this.#client.end(GOING_AWAY)
    else this.#client.destroy()
    up.destroy()
  }

  /** Close both sockets at once. */
  destroy(): void {
    if (this.#timer !== undefined) { clearTimeout(this.#timer); this.#timer = undefined }
    this.#handshake?.destroy()
    this.#answer?.destroy()
    this.#upstream?.destroy()
    this.#client.destroy()
  }
}
