// The listener owns connections and the order of the steps: host route → route table → admission
// → forwarder, for requests and upgrades alike; and how each kind of answer is written.
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import type { Admission } from '../admission/admission.js'
import type { Admitted, Decision, Refused } from '../admission/decision.js'
import type { PreviewWarning } from '../admission/warning-page.js'
import { ERRORS, type GatewayErrorCode } from '../errors/codes.js'
import type { ResponseHeaderOptions } from '../forward/headers.js'
import type { ForwardContext, HttpForwarder, UpstreamErrorKind } from '../forward/http.js'
import { WsTunnel } from '../forward/ws.js'
import type { ActivityTracker, LiveStream } from '../resolve/activity.js'
import { NOT_FOUND, routeHost, type BaseTarget, type HostRefusal, type PreviewTarget } from '../routing/host-route.js'
import { matchRoute, type Answer, type RouteTable, type RowMatch } from '../routes/table.js'
import { sendStartingPage } from '../wake/starting-page.js'
import type { Accounting, RequestRecord, UpgradeRecord } from './accounting.js'
import { destroyOnError, type ServerSocket } from './server.js'
import { sendError, sendRawError, sendRedirect } from '../errors/respond.js'

export interface RequestFlowDeps {
  readonly domains: readonly string[]
  readonly toolboxOnly: boolean
  readonly routes: RouteTable
  readonly admission: Admission
  readonly http: HttpForwarder
  readonly warning: PreviewWarning | null
  readonly activity: ActivityTracker
  readonly accounting: Accounting
  readonly onTunnelOpen: (t: WsTunnel) => void
  readonly onTunnelClose: (t: WsTunnel) => void
  readonly onUpstreamError: (kind: UpstreamErrorKind) => void
  /** UPSTREAM_TIMEOUT_SEC in ms: how long a runner may take to answer a WebSocket handshake (0: no limit). */
  readonly upgradeTimeoutMs: number
}

/** A row of the route table answers this request itself. */
type Answered =
  | { readonly kind: 'answer-base'; readonly answer: Answer<BaseTarget>; readonly at: BaseTarget; readonly params: readonly string[] }
  | { readonly kind: 'answer-preview'; readonly answer: Answer<PreviewTarget>; readonly at: PreviewTarget; readonly params: readonly string[] }

const VERSION_NOT_SUPPORTED = Object.freeze({ status: 505, close: true })

/** Most responses: hop-by-hop and gateway cookies removed, nothing added (one shared object). */
const AS_THE_APP_SENT: ResponseHeaderOptions = Object.freeze({ cors: null, setCookie: undefined, locationPrefix: undefined })

const RETRY_AFTER = new Map<number, Readonly<Record<string, string>>>()

function refusalOptions(r: Refused): { status: number | undefined; headers: Readonly<Record<string, string>> | undefined } {
  if (r.retryAfterSec === undefined) return { status: r.status, headers: undefined }
  let headers = RETRY_AFTER.get(r.retryAfterSec)
  if (headers === undefined) { headers = Object.freeze({ 'Retry-After': String(r.retryAfterSec) }); RETRY_AFTER.set(r.retryAfterSec, headers) }
  return { status: r.status, headers }
}

/** What happens to the app's answer headers for this admitted request or upgrade. */
function responseOptions(a: Admitted): ResponseHeaderOptions {
  return a.cors === null && a.setCookie === undefined && !a.toolbox
    ? AS_THE_APP_SENT
    : { cors: a.cors, setCookie: a.setCookie, locationPrefix: a.toolbox ? `/toolbox/${a.sandboxId}` : undefined }
}

function rawRetryAfter(r: Refused): string {
  return r.retryAfterSec === undefined ? '' : `Retry-After: ${r.retryAfterSec}\r\n`
}

/** The gateway's own endpoints answer requests; an upgrade to one has nothing to upgrade to. */
function upgradeRefusal(row: RowMatch): HostRefusal {
  return row.upgradeRefusal === undefined ? NOT_FOUND : { kind: 'refuse', code: row.upgradeRefusal, close: false }
}

/** Something threw while a request was handled: 500 if nothing was sent yet, else the connection is cut. */
function failed(req: IncomingMessage, res: ServerResponse): void {
  if (!res.headersSent && !res.destroyed) sendError(req, res, 'INTERNAL')
  else res.destroy()
}

/**
 * RFC 9112 §9.6: once the answer being written closes the connection (the client sent `Connection:
 * close`, or the gateway refused with a close), requests pipelined behind it are not processed:
 * not routed, not forwarded. node:http parses and emits them all the same; the connection closes
 * when that answer is done.
 */
function behindClosingAnswer(socket: ServerSocket, res: ServerResponse | undefined): boolean {
  const inFlight = socket._httpMessage
  return inFlight != null && inFlight !== res && !inFlight.shouldKeepAlive
}

/**
 * The request path, top to bottom: host router → route table (the gateway's own endpoints) →
 * admission (authenticator chain, control plane with cache) → HTTP forwarder or WebSocket tunnel.
 */
export class RequestFlow {
  readonly #d: RequestFlowDeps

  constructor(deps: RequestFlowDeps) {
    this.#d = deps
  }

  readonly onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    if (behindClosingAnswer(req.socket as ServerSocket, res)) return
    this.#request(req, res, this.#d.accounting.begin(req, res))
  }

  readonly onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    if (behindClosingAnswer(socket as ServerSocket, undefined)) return
    // The http server drops its own listeners on upgrade: a reset during auth must not crash us.
    socket.on('error', destroyOnError)
    const u = this.#d.accounting.beginUpgrade(req)
    this.#upgrade(req, socket as Socket, head, u).catch(() => socket.destroy())
  }

  /** SPEC §1: the host and the route table decide whether this is a preview, and of what. */
  #route(req: IncomingMessage, upgrade: boolean, note: RequestRecord | UpgradeRecord): PreviewTarget | HostRefusal | Answered {
    const at = routeHost(req, this.#d.domains, this.#d.toolboxOnly)
    if (at.kind === 'refuse') return at
    if (at.kind === 'base') {
      note.kind = 'base'
      const m = matchRoute(this.#d.routes.base, req.method, at.target)
      if (m === null) return NOT_FOUND
      note.kind = m.row.kind
      if (m.row.admit !== undefined) return m.row.admit(at)
      return upgrade ? upgradeRefusal(m.row) : { kind: 'answer-base', answer: m.row.answer, at, params: m.params }
    }
    const m = matchRoute(this.#d.routes.preview, req.method, at.target)
    if (m === null) return at
    note.kind = m.row.kind
    if (m.row.admit !== undefined) return m.row.admit(at)
    return upgrade ? upgradeRefusal(m.row) : { kind: 'answer-preview', answer: m.row.answer, at, params: m.params }
  }

  /** Warm requests are decided and forwarded without a promise; a failure inside is answered 500. */
  #request(req: IncomingMessage, res: ServerResponse, rec: RequestRecord): void {
    try {
      // llhttp reads `HTTP/2.0` (or any major) in a request line as well: not a version spoken here.
      if (req.httpVersionMajor !== 1) return sendError(req, res, 'BAD_REQUEST', VERSION_NOT_SUPPORTED)
      const r = this.#route(req, false, rec)
      switch (r.kind) {
        case 'refuse': return sendError(req, res, r.code, { close: r.close })
        case 'answer-base': return void this.#settle(req, res, r.answer(req, res, r.at, r.params))
        case 'answer-preview': return void this.#settle(req, res, r.answer(req, res, r.at, r.params))
      }
      const d = this.#d.admission.admit(req, 'request', r, res, rec)
      if (d instanceof Promise) void this.#answerLater(req, res, d, rec)
      else this.#answer(req, res, d, rec)
    } catch {
      failed(req, res)
    }
  }

  /** Never rejects (no per-request .catch closure). */
  async #answerLater(req: IncomingMessage, res: ServerResponse, decision: Promise<Decision>, rec: RequestRecord): Promise<void> {
    try {
      this.#answer(req, res, await decision, rec)
    } catch {
      failed(req, res)
    }
  }

  async #settle(req: IncomingMessage, res: ServerResponse, answered: void | Promise<void>): Promise<void> {
    try {
      await answered
    } catch {
      failed(req, res)
    }
  }

  /** Writes a decision as an HTTP response (or hands the request to the forwarder). */
  #answer(req: IncomingMessage, res: ServerResponse, d: Decision, rec: RequestRecord | undefined): void {
    switch (d.kind) {
      case 'admit': return this.#forward(req, res, d, rec)
      case 'refuse': return sendError(req, res, d.code, refusalOptions(d))
      case 'preflight': return this.#d.admission.cors.answerPreflight(req, res, d.origin)
      case 'login': return sendRedirect(res, 302, d.location)
      case 'warning': return this.#d.warning?.render(res, d.host, d.url)
      case 'starting': return sendStartingPage(req, res)
      case 'gone': return
    }
  }

  #forward(req: IncomingMessage, res: ServerResponse, a: Admitted, rec: RequestRecord | undefined): void {
    if (a.holdsSlot) res.once('close', () => this.#d.admission.release(a.sandboxId))
    const ctx: ForwardContext = {
      sandboxId: a.sandboxId,
      record: rec,
      response: responseOptions(a),
      onRunnerRefused: this.#dropRunner,
      onUnreachable: this.#afterRefused,
      onStreamOpen: this.#streamOpen,
      onStreamClose: this.#streamClose,
    }
    this.#d.http.forward(req, res, { origin: a.origin, path: a.path }, a.headers, ctx)
  }

  async #upgrade(req: IncomingMessage, s: Socket, head: Buffer, u: UpgradeRecord): Promise<void> {
    const r = this.#route(req, true, u)
    // #route never gives an upgrade a row that answers (it is refused there instead).
    if (r.kind !== 'preview') return this.#refuseUpgrade(u, s, r.kind === 'refuse' ? r.code : 'NOT_FOUND')
    const d = await this.#d.admission.admit(req, 'upgrade', r, s, u)
    // The client left while it was being admitted: logged as nginx does (499), nothing sent.
    if (d.kind === 'gone') return this.#d.accounting.finishUpgrade(u, 499)
    if (d.kind === 'refuse') return this.#refuseUpgrade(u, s, d.code, d.status, rawRetryAfter(d))
    new WsTunnel(s, head, { origin: d.origin, path: d.path }, d.headers, req.method ?? 'GET', {
      sandboxId: d.sandboxId,
      response: responseOptions(d),
      timeoutMs: this.#d.upgradeTimeoutMs,
      onRunnerRefused: this.#dropRunner,
      onUnreachable: this.#afterRefusedUpgrade,
      onOpen: this.#d.onTunnelOpen,
      onClose: this.#d.onTunnelClose,
      onFinally: this.#releaseTunnel,
      onUpstreamError: this.#d.onUpstreamError,
      onResult: (status) => this.#d.accounting.finishUpgrade(u, status),
    })
  }

  #refuseUpgrade(u: UpgradeRecord, s: Socket, code: GatewayErrorCode, status?: number, extra?: string): void {
    sendRawError(s, code, status, extra)
    this.#d.accounting.finishUpgrade(u, status ?? ERRORS[code].status)
  }

  #dropRunner = (id: string): void => this.#d.admission.dropRunner(id)
  #afterRefused = (req: IncomingMessage, res: ServerResponse, id: string): void => {
    this.#d.admission.afterRefused(req, 'request', id, res).then((d) => this.#answer(req, res, d, undefined), () => res.destroy())
  }
  #afterRefusedUpgrade = async (socket: Duplex, id: string): Promise<{ code: GatewayErrorCode; extra: string }> => {
    const d = await this.#d.admission.afterRefused(undefined, 'upgrade', id, socket)
    return d.kind === 'refuse' ? { code: d.code, extra: rawRetryAfter(d) } : { code: 'UPSTREAM_UNREACHABLE', extra: '' }
  }
  #releaseTunnel = (t: WsTunnel): void => this.#d.admission.release(t.sandboxId)
  #streamOpen = (s: LiveStream): void => this.#d.activity.open(s)
  #streamClose = (s: LiveStream): void => this.#d.activity.close(s)
}
