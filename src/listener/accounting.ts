import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import { AccessLog, hashLabel, type Logger } from '../log.js'
import { methodLabel, type Metrics, type RouteKind } from '../metrics/metrics.js'
import { requestClosed, requestOpened } from './idle-clients.js'

/** Per-request facts the access log and metrics need; attached to the response, no closures. */
export interface RequestRecord {
  readonly start: number
  /** The client connection (req.socket is null by the time a cut response closes). */
  readonly socket: Socket
  kind: RouteKind
  sandboxId: string | undefined
  label: string | undefined
  upstreamStatus: number
  upstreamMs: number
  bytesOut: number
  /** Set when the upstream failed after the response started (the client got a cut response). */
  upstreamError: string | undefined
}

/** The same facts for an upgrade (no ServerResponse: logged when it is answered). */
export interface UpgradeRecord {
  readonly start: number
  readonly method: string | undefined
  kind: RouteKind
  sandboxId: string | undefined
  label: string | undefined
}

const kRecord = Symbol('record')
type Recorded = ServerResponse & { [kRecord]?: RequestRecord; [kAccounting]?: Accounting }
const kAccounting = Symbol('accounting')
const kSocketAccounting = Symbol('socketAccounting')
type AccountedSocket = Socket & { [kSocketAccounting]?: Accounting }

function resOnClose(this: Recorded): void {
  const rec = this[kRecord]
  const acc = this[kAccounting]
  if (rec === undefined || acc === undefined) return
  this[kRecord] = undefined
  acc.finish(this, rec)
}

function socketOnClose(this: AccountedSocket): void {
  const acc = this[kSocketAccounting]
  if (acc === undefined) return
  this[kSocketAccounting] = undefined
  acc.socketClosed(this)
}

/**
 * One access-log line per request (method, route kind, status, bytes, durations, upstream status,
 * sandbox id, a hash of the host label — never the host, the query or a token) and the request
 * metrics, both written when the response closes.
 */
export class Accounting {
  #metrics: Metrics
  /** null: ACCESS_LOG=false, or a level above info. */
  #access: AccessLog | null

  constructor(metrics: Metrics, log: Logger, accessLog: boolean) {
    this.#metrics = metrics
    this.#access = accessLog && log.isLevelEnabled('info') ? new AccessLog(log) : null
  }

  begin(req: IncomingMessage, res: ServerResponse): RequestRecord {
    const rec: RequestRecord = { start: performance.now(), socket: req.socket, kind: 'invalid', sandboxId: undefined, label: undefined, upstreamStatus: 0, upstreamMs: 0, bytesOut: 0, upstreamError: undefined }
    const r = res as Recorded
    r[kRecord] = rec
    r[kAccounting] = this
    res.on('close', resOnClose)
    requestOpened(rec.socket)
    this.#metrics.inflight.inc()
    return rec
  }

  static record(res: ServerResponse): RequestRecord | undefined {
    return (res as Recorded)[kRecord]
  }

  finish(res: ServerResponse, rec: RequestRecord): void {
    this.#metrics.inflight.dec()
    requestClosed(rec.socket)
    // 499: the client went away before the end; a cut by the upstream keeps the status sent.
    const status = res.writableFinished || rec.upstreamError !== undefined ? res.statusCode : 499
    const seconds = (performance.now() - rec.start) / 1000
    const method = methodLabel(res.req?.method)
    this.#metrics.requests.inc({ kind: rec.kind, method, code: String(status) })
    this.#metrics.requestDuration.observe({ kind: rec.kind }, seconds)
    if (this.#access !== null) {
      this.#access.write({
        method,
        kind: rec.kind,
        status,
        upstreamStatus: rec.upstreamStatus || undefined,
        bytesOut: rec.bytesOut > 0 ? rec.bytesOut : Number(res.getHeader('content-length') ?? 0),
        durationMs: Math.round(seconds * 10000) / 10,
        upstreamMs: rec.upstreamMs > 0 ? Math.round(rec.upstreamMs * 10) / 10 : undefined,
        upstreamError: rec.upstreamError,
        sandbox: rec.sandboxId,
        hostHash: rec.label === undefined ? undefined : hashLabel(rec.label),
      })
    }
  }

  beginUpgrade(req: IncomingMessage): UpgradeRecord {
    return { start: performance.now(), method: req.method, kind: 'invalid', sandboxId: undefined, label: undefined }
  }

  /** An upgrade is counted and logged once, when it is answered (101 or a refusal). */
  finishUpgrade(u: UpgradeRecord, status: number): void {
    const seconds = (performance.now() - u.start) / 1000
    this.#metrics.requests.inc({ kind: u.kind, method: methodLabel(u.method), code: String(status) })
    this.#metrics.requestDuration.observe({ kind: u.kind }, seconds)
    if (this.#access !== null) {
      this.#access.write({
        method: methodLabel(u.method),
        kind: u.kind,
        upgrade: 'websocket',
        status,
        durationMs: Math.round(seconds * 10000) / 10,
        sandbox: u.sandboxId,
        hostHash: u.label === undefined ? undefined : hashLabel(u.label),
      })
    }
  }

  /** Counts client connections and the bytes they moved. */
  connectionOpened(socket: Socket): void {
    const s = socket as AccountedSocket
    s[kSocketAccounting] = this
    this.#metrics.openConnections.inc()
    socket.once('close', socketOnClose)
  }

  socketClosed(socket: Socket): void {
    this.#metrics.openConnections.dec()
    this.#metrics.bytes.inc({ direction: 'in' }, socket.bytesRead)
    this.#metrics.bytes.inc({ direction: 'out' }, socket.bytesWritten)
  }
}
