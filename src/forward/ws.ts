import { request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http'
import { request as httpsRequest } from 'node:https'
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import { sendRawError } from '../errors/respond.js'
import type { LiveStream } from '../resolve/activity.js'
import { ERRORS } from '../errors/codes.js'
import { rawResponseHead } from './headers.js'
import type { UpgradeContext, UpgradeTarget } from './upgrade-context.js'

const kTunnel = Symbol('tunnel')
/** FIN + close opcode, 2-byte payload: status 1001. */
const GOING_AWAY = Buffer.from([0x88, 0x02, 0x03, 0xe9])
type TunnelSocket = Socket & { [kTunnel]?: WsTunnel }
type TunnelSide = Duplex & { [kTunnel]?: WsTunnel }
type Handshake = ClientRequest & { [kTunnel]?: WsTunnel }
type Answer = IncomingMessage & { [kTunnel]?: WsTunnel }
const EMPTY = Buffer.alloc(0)
/** Early client bytes kept until the 101: more is no WebSocket client's doing. */
const MAX_EARLY_BYTES = 64 * 1024
const REFUSED = new Set(['ECONNREFUSED', 'ECONNRESET'])
const CONNECTION_CLOSE: readonly string[] = ['Connection', 'close']

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

/** Before the 101 the client is read (bytes kept for the runner) so that its leaving (even a FIN) is seen. */
function clientOnEarlyData(this: TunnelSide, chunk: Buffer): void {
  this[kTunnel]?.early(chunk)
}

function sideOnError(this: TunnelSide): void {
  this.destroy()
}

function sideOnClose(this: TunnelSide): void {
  this[kTunnel]?.ended()
}

/**
 * A WebSocket (or any Upgrade) after authentication. The handshake goes to the runner through
 * node:http's client (one connection, no pool): only its 101 opens the tunnel, and only then are the
 * client's early bytes replayed. Any other answer is relayed as a response and the connection closed
 * (a tunnel after a 404 would let the client send the runner anything, unchecked; nginx waits for
 * the 101 too). Once open, the sockets are piped both ways (`.pipe()` keeps backpressure); an error
 * or close on either side destroys both. Not stream.pipeline: ~25 KiB per idle tunnel against ~11
 * KiB for two pipes with module-level listeners, and idle WebSockets are what a gateway holds most of.
 */
export class WsTunnel implements LiveStream {
  readonly sandboxId: string
  activitySlot = -1
  #client: Duplex & Partial<Socket>
  #handshake: Handshake | undefined
  #answer: Answer | undefined
  #upstream: TunnelSocket | undefined
  #head: Buffer
  #ctx: UpgradeContext<WsTunnel>
  #timer: NodeJS.Timeout | undefined
  #open = false
  #done = false
  #reported = false

  constructor(client: Duplex, head: Buffer, target: UpgradeTarget, headers: readonly string[], method: string, ctx: UpgradeContext<WsTunnel>) {
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
    side.on('data', clientOnEarlyData)
    // The listener allows half-open sockets: before a tunnel, a FIN is the client leaving too.
    side.on('end', sideOnClose)
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
    client.write(rawResponseHead(101, res.rawHeaders, this.#ctx.response, ['Connection', 'Upgrade', 'Upgrade', res.headers.upgrade ?? 'websocket']))
    if (upHead.length > 0) client.write(upHead)
    up.setNoDelay(true)
    client.removeListener('data', clientOnEarlyData)
    client.removeListener('end', sideOnClose)
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
    this.#result(status)
    this.#answer = res
    res[kTunnel] = this
    res.on('end', answerOnEnd)
    res.on('error', answerOnError)
    res.on('aborted', answerOnError)
    const client = this.#client
    client.write(rawResponseHead(status, res.rawHeaders, this.#ctx.response, CONNECTION_CLOSE))
    res.pipe(client, { end: false })
    // Whatever the client sent after its handshake is read and dropped (early()), so closing does not reset.
    this.#head = EMPTY
  }

  /** Bytes the client sent before the runner's 101: kept for it (a WebSocket client sends none; bounded). */
  early(chunk: Buffer): void {
    if (this.#answer !== undefined) return // an answer is being relayed: dropped
    if (this.#head.length + chunk.length > MAX_EARLY_BYTES) { this.destroy(); return }
    this.#head = this.#head.length === 0 ? chunk : Buffer.concat([this.#head, chunk])
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
    // The runner's socket closing must not tear down the client before the close frame is flushed.
    up.removeListener('close', sideOnClose)
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
