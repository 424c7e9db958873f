import { connect as netConnect, type Socket } from 'node:net'
import { connect as tlsConnect } from 'node:tls'
import type { Duplex } from 'node:stream'
import { sendRawError } from '../errors/respond.js'
import type { LiveStream } from '../resolve/activity.js'
import { ERRORS, type GatewayErrorCode } from '../errors/codes.js'

/** Where an upgrade goes: the runner origin and the raw request target. */
export interface UpgradeTarget {
  readonly origin: string
  readonly path: string
}

export interface UpgradeContext {
  readonly sandboxId: string
  readonly onRunnerRefused: (sandboxId: string) => void
  /** Connection refused: the refusal to send in place of the plain 502 (SPEC §10), never a redirect. */
  readonly onUnreachable?: (client: Duplex, sandboxId: string) => Promise<{ code: GatewayErrorCode; extra: string }>
  readonly onOpen?: (tunnel: WsTunnel) => void
  readonly onClose?: (tunnel: WsTunnel) => void
  /** Called exactly once however the tunnel ends (connect failure included). */
  readonly onFinally?: (tunnel: WsTunnel) => void
  readonly onUpstreamError?: (kind: 'connect' | 'reset') => void
  /** 101 once the runner's bytes flow (the runner's own answer is not parsed), or 502. */
  readonly onResult?: (status: number) => void
}

const kTunnel = Symbol('tunnel')
/** FIN + close opcode, 2-byte payload: status 1001. */
const GOING_AWAY = Buffer.from([0x88, 0x02, 0x03, 0xe9])
type TunnelSocket = Socket & { [kTunnel]?: WsTunnel }
type TunnelSide = Duplex & { [kTunnel]?: WsTunnel }
const EMPTY = Buffer.alloc(0)

function upstreamOnConnect(this: TunnelSocket): void {
  this[kTunnel]?.connected()
}

function upstreamOnEarlyError(this: TunnelSocket, err: Error): void {
  this[kTunnel]?.failed(err)
}

function sideOnError(this: TunnelSide): void {
  this.destroy()
}

function sideOnClose(this: TunnelSide): void {
  this[kTunnel]?.ended()
}

/**
 * A WebSocket (or any Upgrade) after authentication: the handshake is written to the runner as
 * raw bytes, the upgrade `head` replayed, then the sockets are piped both ways (`.pipe()` keeps
 * backpressure); the runner's 101 (subprotocol, extensions) flows back untouched. An error or
 * close on either side destroys both. Not stream.pipeline: measured here it holds ~25 KiB per
 * idle tunnel against ~11 KiB for two pipes with module-level listeners (ws `socketOn*` style),
 * and idle WebSockets are what a preview gateway holds most of. No per-message work happens here.
 */
export class WsTunnel implements LiveStream {
  readonly sandboxId: string
  activitySlot = -1
  #client: Duplex & Partial<Socket>
  #upstream: TunnelSocket
  #head: Buffer
  #handshake: string
  #ctx: UpgradeContext
  #open = false
  #done = false

  constructor(client: Duplex, head: Buffer, target: UpgradeTarget, headers: readonly string[], method: string, ctx: UpgradeContext) {
    this.sandboxId = ctx.sandboxId
    this.#client = client as Duplex & Partial<Socket>
    this.#head = head
    this.#ctx = ctx
    const url = new URL(target.origin)
    const secure = url.protocol === 'https:'
    const port = Number(url.port || (secure ? 443 : 80))
    let hs = `${method} ${target.path} HTTP/1.1\r\nHost: ${url.host}\r\n`
    for (let i = 0; i < headers.length; i += 2) hs += `${headers[i]}: ${headers[i + 1]}\r\n`
    this.#handshake = hs + '\r\n'
    const upstream = (secure
      ? tlsConnect({ host: url.hostname, port, servername: url.hostname, ALPNProtocols: ['http/1.1'] })
      : netConnect({ host: url.hostname, port })) as TunnelSocket
    upstream[kTunnel] = this
    upstream.setNoDelay(true)
    upstream.once(secure ? 'secureConnect' : 'connect', upstreamOnConnect)
    upstream.once('error', upstreamOnEarlyError)
    this.#upstream = upstream
    this.#client.setNoDelay?.(true)
    this.#client.setTimeout?.(0)
  }

  bytesMoved(): number {
    return (this.#upstream.bytesRead ?? 0) + (this.#upstream.bytesWritten ?? 0)
  }

  connected(): void {
    const up = this.#upstream
    const client = this.#client as TunnelSide
    up.removeListener('error', upstreamOnEarlyError)
    if (client.destroyed) { up.destroy(); this.#finally(); return }
    up.write(this.#handshake)
    if (this.#head.length > 0) up.write(this.#head)
    this.#handshake = ''
    this.#head = EMPTY
    this.#open = true
    client[kTunnel] = this
    up.on('error', sideOnError)
    client.on('error', sideOnError)
    up.on('close', sideOnClose)
    client.on('close', sideOnClose)
    client.pipe(up)
    up.pipe(client)
    this.#ctx.onOpen?.(this)
    this.#ctx.onResult?.(101)
  }

  failed(err: Error): void {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ECONNREFUSED' || code === 'ECONNRESET') this.#ctx.onRunnerRefused(this.sandboxId)
    this.#ctx.onUpstreamError?.(code === 'ECONNRESET' ? 'reset' : 'connect')
    this.#upstream.destroy()
    const client = this.#client as Socket
    if (code === 'ECONNREFUSED' && this.#ctx.onUnreachable !== undefined) {
      this.#ctx.onUnreachable(client, this.sandboxId).then(
        (a) => { this.#ctx.onResult?.(ERRORS[a.code].status); sendRawError(client, a.code, undefined, a.extra); this.#finally() },
        () => { this.#ctx.onResult?.(502); sendRawError(client, 'UPSTREAM_UNREACHABLE'); this.#finally() },
      )
      return
    }
    this.#ctx.onResult?.(502)
    sendRawError(client, 'UPSTREAM_UNREACHABLE')
    this.#finally()
  }

  #finally(): void {
    if (this.#done) return
    this.#done = true
    this.#ctx.onFinally?.(this)
  }

  ended(): void {
    // Either side closing tears down both: a half-open tunnel would leak.
    this.#upstream.destroy()
    this.#client.destroy()
    if (this.#open) {
      this.#open = false
      this.#ctx.onClose?.(this)
      this.#finally()
    }
  }

  /**
   * Drain deadline: stop reading the runner, send the client a WebSocket close frame with code
   * 1001 (going away; server frames are unmasked, RFC 6455 §5.5.1), then close both sides.
   */
  goingAway(): void {
    const up = this.#upstream
    up.pause()
    up.unpipe(this.#client)
    if (this.#open && this.#client.writable) this.#client.end(GOING_AWAY)
    else this.#client.destroy()
    up.destroy()
  }

  /** Close both sockets at once. */
  destroy(): void {
    this.#upstream.destroy()
    this.#client.destroy()
  }
}
