import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import { AuthChain, isReservedPort, type AuthDecision, type Credentials } from '../auth/chain.js'
import { SESSION_COOKIE_PREFIX, findCookie } from '../auth/cookies.js'
import type { SessionSigner } from '../auth/session.js'
import { LOGIN_TICKET_PARAM, type OidcLogin } from '../auth/oidc.js'
import { ACCEPT_PATH, type PreviewWarning } from './warning-page.js'
import { parseSignedFileRequest, stripSignedParams, type SignedFileUrls } from '../auth/signed-file-url.js'
import type { SandboxLookup } from '../resolve/sandbox-lookup.js'
import type { Config } from '../config/load.js'
import type { ControlPlane, Runner } from '../control-plane/types.js'
import { ERRORS, isGatewayError, type GatewayErrorCode } from '../errors/codes.js'
import { buildUpstreamHeaders } from '../forward/headers.js'
import { HttpForwarder, type ForwardContext, type UpstreamErrorKind } from '../forward/http.js'
import { upstreamFor, type UpstreamBase } from '../forward/target.js'
import { WsTunnel } from '../forward/ws.js'
import { TrustedProxies } from '../forward/trusted-proxies.js'
import type { ActivityTracker } from '../resolve/activity.js'
import type { Resolver } from '../resolve/resolver.js'
import { isLabelChars, parseHost, type PreviewHost } from '../routing/preview-host.js'
import { QUERY_AUTH_KEY, findQueryParam, hasDotSegment, removeQueryParam, splitTarget, type RequestTarget } from '../routing/request-target.js'
import { selfLocation } from '../routing/redirect.js'
import { CorsPolicy, isPreflight } from './cors.js'
import { Accounting, type UpgradeRecord } from './accounting.js'
import type { LoadShedder, SandboxLimiter } from './limits.js'
import { isNavigation, sendError, sendJson, sendRawError, sendRedirect } from '../errors/respond.js'
import { WEBHOOK_PATH, type WebhookRoute } from '../routes/webhooks.js'
import type { SandboxWake } from '../wake/sandbox-wake.js'

export interface RequestFlowDeps {
  readonly config: Config
  readonly oidc: OidcLogin
  readonly sessions: SessionSigner
  readonly warning: PreviewWarning | null
  readonly version: string
  readonly controlPlane: ControlPlane
  readonly resolver: Resolver
  readonly auth: AuthChain
  readonly http: HttpForwarder
  readonly activity: ActivityTracker
  readonly isReady: () => boolean
  readonly accounting: Accounting
  readonly shedder: LoadShedder
  readonly limiter: SandboxLimiter
  readonly onOverload: () => void
  readonly onTunnelOpen: (t: WsTunnel) => void
  readonly onTunnelClose: (t: WsTunnel) => void
  readonly webhooks: WebhookRoute | null
  readonly signedFiles: SignedFileUrls
  readonly sandboxLookup: SandboxLookup
  /** SPEC §10: what to answer when a sandbox has no runner or its runner refuses (wake on visit). */
  readonly wake: SandboxWake
}

/** What a request is after routing: a preview, the toolbox route, or already answered. */
interface Routed {
  readonly label: string
  readonly port: number
  readonly toolbox: boolean
  /** Raw path after the route prefix (toolbox) or as received (preview). */
  readonly path: string
  readonly target: RequestTarget
  readonly host: string
}

type Refusal = { readonly refuse: GatewayErrorCode; readonly status?: number; readonly close?: boolean }

const TOOLBOX_PORT = 2280

function ignore(): void {}

function upgradeSocketOnError(this: Duplex): void {
  this.destroy()
}

function hostHeaderCount(raw: readonly string[]): number {
  let n = 0
  for (let i = 0; i < raw.length; i += 2) {
    const k = raw[i] as string
    if (k.length === 4 && k.toLowerCase() === 'host') n++
  }
  return n
}

const BUILD_LOGS_PATH = /^\/(sandboxes|snapshots)\/([^/]+)\/build-logs$/

/** `Authorization: Bearer {token}` (scheme case-insensitive), or undefined. */
function bearerOf(req: IncomingMessage): string | undefined {
  const auth = header(req, 'authorization')
  if (auth === undefined || auth.length <= 7 || auth.slice(0, 7).toLowerCase() !== 'bearer ') return undefined
  return auth.slice(7).trim()
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name]
  return Array.isArray(v) ? v[0] : v
}

/**
 * The request path, top to bottom: host router → authenticator chain → control plane (cached)
 * → forwarder. Every failure becomes one code answered by respond.ts.
 */
export class RequestFlow {
  #d: RequestFlowDeps
  #cors: CorsPolicy
  #proto: string
  #trusted: TrustedProxies

  constructor(deps: RequestFlowDeps) {
    this.#d = deps
    this.#trusted = new TrustedProxies(deps.config.trustedProxies)
    this.#cors = new CorsPolicy(deps.config.corsAllowedOrigins, deps.config.domains)
    this.#proto = deps.config.protocol
  }

  /** SPEC §1 and §6 checks shared by requests and upgrades. Base-domain answers go to `base`. */
  #route(req: IncomingMessage): Routed | Refusal | { readonly base: string; readonly target: RequestTarget } {
    // SPEC §6: two Host headers are ambiguous (Node keeps only the first in req.headers).
    if (hostHeaderCount(req.rawHeaders) > 1) return { refuse: 'BAD_REQUEST', close: true }
    const host = req.headers.host
    // SPEC §1 (RFC 9112 §3.2): no Host, no routing.
    if (host === undefined) return { refuse: 'BAD_REQUEST', close: true }
    const t = splitTarget(req.url ?? '')
    if (t === null) return { refuse: 'BAD_REQUEST', close: true }
    // SPEC §1: an absolute-form authority must equal Host, or one sandbox could be checked and another reached.
    if (t.authority !== undefined && (host === undefined || t.authority.toLowerCase() !== host.toLowerCase())) return { refuse: 'BAD_REQUEST', close: true }
    const m = parseHost(host, this.#d.config.domains)
    if (m.kind === 'invalid') return { refuse: 'INVALID_HOST' }
    if (m.kind === 'base') return { base: m.baseDomain, target: t }
    return this.#preview(m, t, host as string)
  }

  #preview(m: PreviewHost, t: RequestTarget, host: string): Routed | Refusal {
    if (this.#d.config.toolboxOnly && m.port !== TOOLBOX_PORT) return { refuse: 'NOT_FOUND' }
    if (hasDotSegment(t.path)) return { refuse: 'BAD_REQUEST' }
    return { label: m.label, port: m.port, toolbox: false, path: t.path, target: t, host }
  }

  /** `/toolbox/{id}/{path}` on a base domain: port 2280 of that sandbox (SPEC §1). */
  #toolbox(t: RequestTarget, host: string): Routed | Refusal | null {
    if (!t.path.startsWith('/toolbox/')) return null
    const rest = t.path.slice('/toolbox/'.length)
    const slash = rest.indexOf('/')
    const id = slash === -1 ? rest : rest.slice(0, slash)
    if (!isLabelChars(id)) return { refuse: 'NOT_FOUND' }
    const path = slash === -1 ? '' : rest.slice(slash)
    if (hasDotSegment(path)) return { refuse: 'BAD_REQUEST' }
    return { label: id, port: TOOLBOX_PORT, toolbox: true, path, target: t, host }
  }

  #credentials(req: IncomingMessage, r: Routed): Credentials {
    return {
      bearer: bearerOf(req),
      previewToken: header(req, 'x-daytona-preview-token'),
      queryKey: r.target.hasQuery ? findQueryParam(r.target.query, QUERY_AUTH_KEY) : undefined,
      sessionCookie: findCookie(header(req, 'cookie'), SESSION_COOKIE_PREFIX + r.label),
    }
  }

  /** Raw path + query for upstream, with only our auth parameter removed. */
  #upstreamPath(b: UpstreamBase, r: Routed, c: Credentials): string {
    let query = r.target.query
    if (c.queryKey !== undefined) query = removeQueryParam(query, QUERY_AUTH_KEY)
    const path = b.prefix + (r.path === '' && b.prefix === '' ? '/' : r.path)
    return query === '' ? (r.target.hasQuery && c.queryKey === undefined ? path + '?' : path) : `${path}?${query}`
  }

  /**
   * The runner lookup does not depend on the auth answer, so a cold request sends it alongside
   * (one control-plane round trip instead of two). Only used once auth picks this id.
   */
  #prefetchRunner(label: string, waiter: ServerResponse | Duplex): void {
    if (!this.#d.resolver.runners.isKnown(label)) this.#d.resolver.runner(label, waiter).catch(ignore)
  }

  async #runner(sandboxId: string, waiter: ServerResponse | Duplex): Promise<Runner | null | Refusal> {
    const cached = this.#d.resolver.runners.peek(sandboxId)
    if (cached !== undefined) return cached
    try {
      return await this.#d.resolver.runner(sandboxId, waiter)
    } catch (err) {
      if (isGatewayError(err)) return { refuse: 'CONTROL_PLANE_UNAVAILABLE' }
      throw err
    }
  }

  readonly onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    this.#d.accounting.begin(res)
    this.#handle(req, res).catch(() => { if (!res.headersSent && !res.destroyed) sendError(req, res, 'INTERNAL'); else res.destroy() })
  }

  readonly onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    // The http server drops its own listeners on upgrade: a reset during auth must not crash us.
    socket.on('error', upgradeSocketOnError)
    this.#handleUpgrade(req, socket, head).catch(() => socket.destroy())
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const rec = Accounting.record(res)
    const routed = this.#route(req)
    if ('refuse' in routed) return sendError(req, res, routed.refuse, routed)
    let r: Routed
    if ('base' in routed) {
      const t = routed.target
      if (rec !== undefined) rec.kind = 'base'
      if (t.path === '/health' && rec !== undefined) rec.kind = 'health'
      if (t.path === '/health' && (req.method === 'GET' || req.method === 'HEAD')) return sendJson(res, 200, { status: 'ok', version: this.#d.version })
      if (t.path === '/ready' && (req.method === 'GET' || req.method === 'HEAD')) {
        return this.#d.isReady() ? sendJson(res, 200, { status: 'ready' }) : sendJson(res, 503, { status: 'draining' })
      }
      if ((t.path === '/login' || t.path === '/callback') && rec !== undefined) rec.kind = 'login'
      if (t.path === '/login' && req.method === 'GET') return this.#login(req, res, routed.base, t)
      if (t.path === '/callback' && req.method === 'GET') return this.#callback(req, res, routed.base)
      if (t.path === WEBHOOK_PATH && this.#d.webhooks !== null) return this.#d.webhooks.handle(req, res)
      const tb = this.#toolbox(t, req.headers.host as string)
      if (tb === null) {
        if (req.method === 'GET') {
          const bl = BUILD_LOGS_PATH.exec(t.path)
          if (bl !== null && rec !== undefined) rec.kind = 'build_logs'
          if (bl !== null) return this.#buildLogs(req, res, bl[1] === 'sandboxes' ? 'sandbox' : 'snapshot', bl[2] as string, t)
        }
        return sendError(req, res, 'NOT_FOUND')
      }
      if ('refuse' in tb) return sendError(req, res, tb.refuse)
      r = tb
    } else {
      r = routed
      if (r.path === ACCEPT_PATH && req.method === 'POST' && this.#d.warning !== null) return this.#d.warning.accept(req, res, r.host, r.target.query)
      if (r.target.hasQuery && r.target.query.includes(LOGIN_TICKET_PARAM)) return this.#redeemTicket(req, res, r)
    }

    if (rec !== undefined) { rec.kind = r.toolbox ? 'toolbox' : 'preview'; rec.label = r.label }
    if (this.#d.shedder.isOverloaded()) {
      this.#d.onOverload()
      return sendError(req, res, 'OVERLOADED', { headers: { 'Retry-After': '2' } })
    }
    const disableCors = header(req, 'x-daytona-disable-cors') === 'true'
    const origin = header(req, 'origin')
    if (!disableCors && origin !== undefined && isPreflight(req)) return this.#cors.answerPreflight(req, res, origin)

    // SPEC §10: a signed toolbox file URL is authorized by its signature alone.
    const signed = r.toolbox ? parseSignedFileRequest(req.method, r.path, r.target.query) : null
    if (signed !== null) r = { ...r, target: { ...r.target, query: stripSignedParams(r.target.query) } }
    const c = this.#credentials(req, r)
    this.#prefetchRunner(r.label, res)
    const decision = signed !== null
      ? await this.#d.signedFiles.authorize(r.label, signed, res)
      : await this.#d.auth.authenticate({ label: r.label, port: r.port, credentials: c, toolbox: r.toolbox, waiter: res })
    if (res.destroyed) return
    if (decision.verdict !== 'allow') return this.#refuseAuth(req, res, decision, r)

    if (rec !== undefined) rec.sandboxId = decision.sandboxId
    let runner = await this.#runner(decision.sandboxId, res)
    if (res.destroyed) return
    if (runner === null) {
      const w = await this.#d.wake.afterNoRunner(decision.sandboxId, res)
      if (res.destroyed) return
      if ('answer' in w) return this.#d.wake.respond(req, res, w.answer)
      runner = w.runner
    }
    if ('refuse' in runner) return sendError(req, res, runner.refuse)
    const b = upstreamFor(runner, decision.sandboxId, r.toolbox ? 'toolbox' : r.port)
    if (b === null) return sendError(req, res, 'UPSTREAM_UNREACHABLE')

    if (this.#d.warning !== null && !r.toolbox && !isReservedPort(r.port) && this.#d.warning.shouldShow(req)) {
      // SPEC §10: per sandbox; a signed-token label is asked with its port.
      const show = await this.#d.warning.enabledFor(r.label, decision.sandboxId === r.label ? undefined : r.port, res)
      if (res.destroyed) return
      if (show) return this.#d.warning.render(res, r.host, `${this.#proto}://${r.host}${r.path}${r.target.hasQuery ? `?${r.target.query}` : ''}`)
    }
    if (header(req, 'x-daytona-skip-last-activity-update') !== 'true') this.#d.activity.touch(decision.sandboxId)

    let cors: readonly string[] | null = null
    if (!disableCors && origin !== undefined) {
      const grant = decision.method !== 'session_cookie' || this.#cors.isSameSandboxOrigin(origin, decision.sandboxId, r.label)
      cors = this.#cors.responseHeaders(origin, grant)
    }
    const headers = buildUpstreamHeaders(req.rawHeaders, {
      dropAuthorization: decision.examinedAuthorization,
      upgrade: false,
      runnerKey: b.runnerKey,
      forwardedHost: r.host,
      forwardedProto: this.#proto,
      remoteAddress: req.socket.remoteAddress ?? '',
      trustForwarded: this.#trusted.isTrusted(req.socket.remoteAddress),
    })
    if (!this.#d.limiter.tryAcquire(decision.sandboxId)) return sendError(req, res, 'TOO_MANY_CONNECTIONS', { headers: { 'Retry-After': '2' } })
    if (this.#d.limiter.enabled) res.once('close', () => this.#d.limiter.release(decision.sandboxId))
    const ctx: ForwardContext = {
      sandboxId: decision.sandboxId,
      record: rec,
      response: { cors, setCookie: decision.setCookie, locationPrefix: r.toolbox ? `/toolbox/${decision.sandboxId}` : undefined, status: 0 },
      onRunnerRefused: this.#dropRunner,
      onUnreachable: this.#wakeAfterRefused,
      onStreamOpen: this.#streamOpen,
      onStreamClose: this.#streamClose,
    }
    this.#d.http.forward(req, res, { origin: b.origin, path: this.#upstreamPath(b, r, c) }, headers, ctx)
  }

  #dropRunner = (id: string): void => this.#d.resolver.dropRunner(id)
  #wakeAfterRefused = (req: IncomingMessage, res: ServerResponse, id: string): void => {
    this.#d.wake.afterRefused(id, res).then((code) => { if (!res.destroyed) this.#d.wake.respond(req, res, code) }, () => res.destroy())
  }
  #wakeAfterRefusedUpgrade = (socket: Duplex, id: string): Promise<{ code: GatewayErrorCode; extra: string }> =>
    this.#d.wake.afterRefused(id, socket).then((code) => ({ code, extra: this.#d.wake.upgradeHeaders(code) }))
  #releaseTunnel = (t: WsTunnel): void => this.#d.limiter.release(t.sandboxId)
  #upstreamError = (kind: UpstreamErrorKind): void => this.#d.http.onUpstreamError?.(kind)
  #streamOpen = (s: { sandboxId: string; bytesMoved(): number }): void => this.#d.activity.open(s)
  #streamClose = (s: { sandboxId: string; bytesMoved(): number }): void => this.#d.activity.close(s)

  /** SPEC §10: a bearer the API refused because the sandbox does not exist gets 404 SANDBOX_NOT_FOUND. */
  async #refuseToolbox(req: IncomingMessage, res: ServerResponse, r: Routed): Promise<void> {
    const bearer = bearerOf(req)
    const seen = bearer === undefined || bearer === '' ? 'refused' : await this.#d.sandboxLookup.forUser(r.label, bearer, res)
    if (res.destroyed) return
    return sendError(req, res, seen === 'not_found' ? 'SANDBOX_NOT_FOUND' : 'UNAUTHORIZED')
  }

  async #refuseAuth(req: IncomingMessage, res: ServerResponse, d: AuthDecision, r: Routed): Promise<void> {
    if (d.verdict === 'unavailable') return sendError(req, res, 'CONTROL_PLANE_UNAVAILABLE', { status: 503, headers: { 'Retry-After': '5' } })
    // SPEC §3 step 6: only a browser navigation is redirected to the login; fetch/XHR, assets,
    // API clients and the toolbox get 401.
    if (r.toolbox) return this.#refuseToolbox(req, res, r)
    if ((req.method !== 'GET' && req.method !== 'HEAD') || !isNavigation(req)) return sendError(req, res, 'UNAUTHORIZED')
    // A label that is no sandbox (no runner knows it) was a signed link that is no longer valid:
    // say so instead of sending the browser round a login that cannot help (no login loop).
    let runner: Runner | null | Refusal
    try { runner = await this.#runner(r.label, res) } catch { return }
    if (runner === null) return sendError(req, res, 'INVALID_LINK')
    if (res.destroyed || (await this.#d.oidc.settings()) === null) return sendError(req, res, 'UNAUTHORIZED')
    const m = parseHost(r.host, this.#d.config.domains)
    if (m.kind !== 'preview') return sendError(req, res, 'UNAUTHORIZED')
    const location = this.#d.oidc.loginStart(m.baseDomain, this.#publicUrl(r.host, req.url ?? '/'))
    return location === null ? sendError(req, res, 'UNAUTHORIZED') : sendRedirect(res, 302, location)
  }

  /** The URL the user sees: configured scheme and public port, never the client's own port. */
  #publicUrl(host: string, rawUrl: string): string {
    const m = parseHost(host, this.#d.config.domains)
    const bare = m.kind === 'preview' ? `${m.port}-${m.label}.${m.baseDomain}` : host
    const t = splitTarget(rawUrl)
    const path = t === null ? '/' : t.path + (t.hasQuery ? `?${t.query}` : '')
    const port = this.#d.config.publicPort
    return `${this.#d.config.protocol}://${bare}${port === undefined ? '' : `:${port}`}${path}`
  }

  async #login(req: IncomingMessage, res: ServerResponse, base: string, t: RequestTarget): Promise<void> {
    const out = await this.#d.oidc.login(t.query, base)
    if ('error' in out) return sendError(req, res, out.error === 502 ? 'CONTROL_PLANE_UNAVAILABLE' : 'LOGIN_FAILED')
    return sendRedirect(res, 302, out.location, { 'Set-Cookie': out.cookie })
  }

  async #callback(req: IncomingMessage, res: ServerResponse, base: string): Promise<void> {
    const out = await this.#d.oidc.callback(req, req.url ?? '/', base)
    if (!out.ok) {
      // SPEC §4: a failed callback is an error page: no session, no redirect, never a login loop.
      res.setHeader('Set-Cookie', out.clearCookie)
      const code = out.status === 403 ? 'FORBIDDEN' : out.status === 502 ? 'CONTROL_PLANE_UNAVAILABLE' : 'LOGIN_FAILED'
      return sendError(req, res, code, { status: out.status })
    }
    return sendRedirect(res, 302, out.location, { 'Set-Cookie': out.clearCookie })
  }

  /** The preview host turns a login ticket into its own host-only, port-bound session. */
  async #redeemTicket(req: IncomingMessage, res: ServerResponse, r: Routed): Promise<void> {
    const ticket = findQueryParam(r.target.query, LOGIN_TICKET_PARAM) ?? ''
    const t = await this.#d.oidc.redeemTicket(ticket, r.label, r.port)
    if (t === null) return sendError(req, res, 'LOGIN_FAILED')
    const cookie = await this.#d.sessions.mintCookie({ sid: t.sid, lbl: t.lbl, prt: t.prt }, this.#d.config.sessionTtlSec)
    const query = removeQueryParam(r.target.query, LOGIN_TICKET_PARAM)
    // The same URL without the ticket: a path of this host even when it reads `//elsewhere`.
    const location = selfLocation(`${this.#proto}://${r.host}`, r.path + (query === '' ? '' : `?${query}`))
    if (location === null) return sendError(req, res, 'BAD_REQUEST')
    return sendRedirect(res, 302, location, { 'Set-Cookie': cookie })
  }

  async #buildLogs(req: IncomingMessage, res: ServerResponse, kind: 'sandbox' | 'snapshot', id: string, t: RequestTarget): Promise<void> {
    if (!isLabelChars(id) && kind === 'sandbox') return sendError(req, res, 'NOT_FOUND')
    const bearer = bearerOf(req)
    if (bearer === undefined) return sendError(req, res, 'UNAUTHORIZED')
    let src
    try {
      src = await this.#d.controlPlane.buildLogSource(kind, id, bearer)
    } catch (err) {
      if (isGatewayError(err)) return sendError(req, res, 'CONTROL_PLANE_UNAVAILABLE')
      throw err
    }
    if (res.destroyed) return
    if (src === null) return sendError(req, res, 'UNAUTHORIZED')
    const u = new URL(src.apiUrl)
    const path = `${u.pathname.replace(/\/+$/, '')}/snapshots/logs?snapshotRef=${encodeURIComponent(src.snapshotRef)}${t.query === '' ? '' : '&' + removeQueryParam(t.query, 'snapshotRef')}`
    const headers = buildUpstreamHeaders(req.rawHeaders, {
      dropAuthorization: true, upgrade: false, runnerKey: src.apiKey,
      forwardedHost: req.headers.host ?? '', forwardedProto: this.#proto, remoteAddress: req.socket.remoteAddress ?? '',
      trustForwarded: this.#trusted.isTrusted(req.socket.remoteAddress),
    })
    this.#d.http.forward(req, res, { origin: u.origin, path }, headers, {
      sandboxId: id,
      response: { cors: null, setCookie: undefined, locationPrefix: undefined, status: 0 },
      onRunnerRefused: () => undefined,
    })
  }

  async #handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const s = socket as Socket
    const u = this.#d.accounting.beginUpgrade(req)
    const routed = this.#route(req)
    if ('refuse' in routed) return this.#refuseUpgrade(u, s, routed.refuse)
    let r: Routed
    if ('base' in routed) {
      const tb = this.#toolbox(routed.target, req.headers.host as string)
      if (tb === null) return this.#refuseUpgrade(u, s, 'NOT_FOUND')
      if ('refuse' in tb) return this.#refuseUpgrade(u, s, tb.refuse)
      r = tb
    } else r = routed
    u.kind = r.toolbox ? 'toolbox' : 'preview'
    u.label = r.label
    if ((header(req, 'upgrade') ?? '').toLowerCase() !== 'websocket') return this.#refuseUpgrade(u, s, 'BAD_REQUEST')
    if (this.#d.shedder.isOverloaded()) { this.#d.onOverload(); return this.#refuseUpgrade(u, s, 'OVERLOADED', 503, 'Retry-After: 2\r\n') }

    // SPEC §6: cross-site WebSocket hijacking. On reserved ports (and the toolbox route) an Origin
    // must be this very host or an allowed origin, whatever the credential; no Origin (SDKs) is fine.
    const origin = header(req, 'origin')
    if (origin !== undefined && (r.toolbox || isReservedPort(r.port)) && !this.#isSameHostOrigin(origin, r.host) && !this.#cors.isAllowedOrigin(origin)) {
      return this.#refuseUpgrade(u, s, 'FORBIDDEN')
    }

    const c = this.#credentials(req, r)
    this.#prefetchRunner(r.label, socket)
    const decision = await this.#d.auth.authenticate({ label: r.label, port: r.port, credentials: c, toolbox: r.toolbox, waiter: socket })
    if (socket.destroyed) return
    if (decision.verdict === 'unavailable') return this.#refuseUpgrade(u, s, 'CONTROL_PLANE_UNAVAILABLE', 503, 'Retry-After: 5\r\n')
    // Never a redirect for an upgrade (SPEC §3 step 6).
    if (decision.verdict === 'deny') return this.#refuseUpgrade(u, s, 'UNAUTHORIZED')

    u.sandboxId = decision.sandboxId
    let runner = await this.#runner(decision.sandboxId, socket)
    if (socket.destroyed) return
    if (runner === null) {
      // SPEC §10: a WebSocket is told 503 (starting, stopped…), never redirected to a page.
      const w = await this.#d.wake.afterNoRunner(decision.sandboxId, socket)
      if (socket.destroyed) return
      if ('answer' in w) return this.#refuseUpgrade(u, s, w.answer, undefined, this.#d.wake.upgradeHeaders(w.answer))
      runner = w.runner
    }
    if ('refuse' in runner) return this.#refuseUpgrade(u, s, runner.refuse)
    const b = upstreamFor(runner, decision.sandboxId, r.toolbox ? 'toolbox' : r.port)
    if (b === null) return this.#refuseUpgrade(u, s, 'UPSTREAM_UNREACHABLE')
    if (!this.#d.limiter.tryAcquire(decision.sandboxId)) return this.#refuseUpgrade(u, s, 'TOO_MANY_CONNECTIONS', 429, 'Retry-After: 2\r\n')
    if (header(req, 'x-daytona-skip-last-activity-update') !== 'true') this.#d.activity.touch(decision.sandboxId)
    const headers = buildUpstreamHeaders(req.rawHeaders, {
      dropAuthorization: decision.examinedAuthorization,
      upgrade: true,
      runnerKey: b.runnerKey,
      forwardedHost: r.host,
      forwardedProto: this.#proto,
      remoteAddress: s.remoteAddress ?? '',
      trustForwarded: this.#trusted.isTrusted(s.remoteAddress),
    })
    new WsTunnel(socket, head, { origin: b.origin, path: this.#upstreamPath(b, r, c) }, headers, req.method ?? 'GET', {
      sandboxId: decision.sandboxId,
      onRunnerRefused: this.#dropRunner,
      onUnreachable: this.#wakeAfterRefusedUpgrade,
      onOpen: this.#d.onTunnelOpen,
      onClose: this.#d.onTunnelClose,
      onFinally: this.#releaseTunnel,
      onUpstreamError: this.#upstreamError,
      onResult: (status) => this.#d.accounting.finishUpgrade(u, status),
    })
  }

  #refuseUpgrade(u: UpgradeRecord, s: Socket, code: GatewayErrorCode, status?: number, extra?: string): void {
    sendRawError(s, code, status, extra)
    this.#d.accounting.finishUpgrade(u, status ?? ERRORS[code].status)
  }

  #isSameHostOrigin(origin: string, host: string): boolean {
    const sep = origin.indexOf('://')
    if (sep === -1) return false
    const scheme = origin.slice(0, sep).toLowerCase()
    if (scheme !== 'http' && scheme !== 'https') return false
    return origin.slice(sep + 3).toLowerCase() === host.toLowerCase()
  }
}
