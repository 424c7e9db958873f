// Admission owns every rule between a routed preview request and its runner, for HTTP requests
// and WebSocket upgrades alike: limits, credentials, the auth chain, runner, waking, warning, CORS.
import type { IncomingMessage } from 'node:http'
import { isReservedPort, type AuthChain, type AuthDecision, type Credentials } from '../auth/chain.js'
import { parseSignedFileRequest, stripSignedParams, type SignedFileUrls, type SignedFileVerdict } from '../auth/signed-file-url.js'
import { ERRORS, type GatewayErrorCode } from '../errors/codes.js'
import { buildUpstreamHeaders } from '../forward/headers.js'
import { upstreamFor, type UpstreamBase } from '../forward/target.js'
import type { TrustedProxies } from '../forward/trusted-proxies.js'
import { isNavigation } from '../errors/respond.js'
import type { ActivityTracker } from '../resolve/activity.js'
import { ConnectionDigests, type Resolver } from '../resolve/resolver.js'
import type { PreviewTarget } from '../routing/host-route.js'
import type { SandboxWake } from '../wake/sandbox-wake.js'
import { RETRY_AFTER_SEC } from '../wake/starting-page.js'
import { isPreflight, type CorsPolicy } from './cors.js'
import { credentialsOf, header, upstreamPath } from './credentials.js'
import { GONE, refused, type AdmissionNote, type Admitted, type Client, type Decision, type Gone, type Refused, type Via } from './decision.js'
import { runnerOf } from './runner.js'
import type { LoadShedder, SandboxLimiter } from './limits.js'
import type { Unauthorized } from './unauthorized.js'
import type { PreviewWarning } from './warning-page.js'

export interface AdmissionDeps {
  readonly protocol: 'http' | 'https'
  readonly auth: AuthChain
  readonly resolver: Resolver
  readonly signedFiles: SignedFileUrls
  readonly unauthorized: Unauthorized
  /** SPEC §10: what to answer when a sandbox has no runner or its runner refuses (wake on visit). */
  readonly wake: SandboxWake
  readonly warning: PreviewWarning | null
  readonly activity: ActivityTracker
  readonly shedder: LoadShedder
  readonly limiter: SandboxLimiter
  readonly onOverload: () => void
  readonly cors: CorsPolicy
  readonly trusted: TrustedProxies
}

const OVERLOADED = refused('OVERLOADED', undefined, 2)
const TOO_MANY_CONNECTIONS = refused('TOO_MANY_CONNECTIONS', undefined, 2)
const BAD_UPGRADE = refused('BAD_REQUEST')
const CROSS_SITE_UPGRADE = refused('FORBIDDEN')
const NO_RUNNER_ADDRESS = refused('UPSTREAM_UNREACHABLE')

const kDigests = Symbol('digests')
type WithDigests = { [kDigests]?: ConnectionDigests }

function digestsOf(req: IncomingMessage): ConnectionDigests {
  const s = req.socket as typeof req.socket & WithDigests
  return (s[kDigests] ??= new ConnectionDigests())
}

type Allowed = AuthDecision & { readonly verdict: 'allow' }

/** A request being admitted and what was read of it before anything was asked. */
interface Asked {
  readonly req: IncomingMessage
  readonly via: Via
  readonly p: PreviewTarget
  readonly c: Credentials
  readonly waiter: Client
  readonly note: AdmissionNote
  readonly origin: string | undefined
  readonly disableCors: boolean
}

function ignore(): void {}

/** SPEC §6: an Origin that is this very host (a page of the same preview). */
function isSameHostOrigin(origin: string, host: string): boolean {
  const sep = origin.indexOf('://')
  if (sep === -1) return false
  const scheme = origin.slice(0, sep).toLowerCase()
  if (scheme !== 'http' && scheme !== 'https') return false
  return origin.slice(sep + 3).toLowerCase() === host.toLowerCase()
}

/**
 * From a routed request to one decision: an admitted target (runner address, upstream path and
 * headers with our credentials stripped), a refusal, or a page only a request can get. The HTTP
 * and WebSocket forwarders differ only in how they stream and how they write what is decided here.
 */
export class Admission {
  readonly #d: AdmissionDeps

  constructor(deps: AdmissionDeps) {
    this.#d = deps
  }

  /**
   * An upgrade is never redirected and never shown a page: only admitted, refused or gone. When
   * every answer is cached the decision comes back at once (no promise, no microtask); otherwise a
   * promise of it.
   */
  admit(req: IncomingMessage, via: 'upgrade', p: PreviewTarget, waiter: Client, note: AdmissionNote): Admitted | Refused | Gone | Promise<Admitted | Refused | Gone>
  admit(req: IncomingMessage, via: 'request', p: PreviewTarget, waiter: Client, note: AdmissionNote): Decision | Promise<Decision>
  admit(req: IncomingMessage, via: Via, p: PreviewTarget, waiter: Client, note: AdmissionNote): Decision | Promise<Decision> {
    const d = this.#d
    note.kind = p.toolbox ? 'toolbox' : 'preview'
    note.label = p.label
    if (via === 'upgrade' && (header(req, 'upgrade') ?? '').toLowerCase() !== 'websocket') return BAD_UPGRADE
    if (d.shedder.isOverloaded()) { d.onOverload(); return OVERLOADED }

    const origin = header(req, 'origin')
    const disableCors = via === 'upgrade' || header(req, 'x-daytona-disable-cors') === 'true'
    if (via === 'request') {
      if (!disableCors && origin !== undefined && isPreflight(req)) return { kind: 'preflight', origin }
    } else if (origin !== undefined && (p.toolbox || isReservedPort(p.port)) && !isSameHostOrigin(origin, p.host) && !d.cors.isAllowedOrigin(origin)) {
      // SPEC §6 cross-site WebSocket hijacking: on reserved ports (and the toolbox route) an Origin
      // must be this very host or an allowed origin, whatever the credential; no Origin (SDKs) is fine.
      return CROSS_SITE_UPGRADE
    }

    // SPEC §10: a signed toolbox file URL is authorized by its signature alone (bound to its path).
    const signed = p.toolbox ? parseSignedFileRequest(req.method, p.path, p.target.query) : null
    if (signed !== null) p = { ...p, target: { ...p.target, query: stripSignedParams(p.target.query) } }
    const c = credentialsOf(req, p)
    const ask: Asked = { req, via, p, c, waiter, note, origin, disableCors }
    if (signed !== null) return this.#admitAsking(ask, signed, undefined)
    const auth = d.auth.allowedNow(p.label, p.port, c, p.toolbox, digestsOf(req))
    if (auth === undefined || auth.verdict !== 'allow') return this.#admitAsking(ask, null, undefined)
    // Warm: the runner is cached too, and no warning page has to be asked about (read uncounted:
    // #admitAsking reads and counts it again).
    const runner = d.resolver.runners.fresh(auth.sandboxId)
    if (runner == null || this.#warningApplies(req, via, p)) return this.#admitAsking(ask, null, auth)
    d.resolver.runners.countHit()
    note.sandboxId = auth.sandboxId
    const b = upstreamFor(runner, auth.sandboxId, p.toolbox ? 'toolbox' : p.port)
    return b === null ? NO_RUNNER_ADDRESS : this.#admitted(ask, auth, b)
  }

  /** The same steps when something has to be asked (the platform, a cookie's signature, the warning setting). */
  async #admitAsking(a: Asked, signed: SignedFileVerdict | null, allowed: Allowed | undefined): Promise<Decision> {
    const d = this.#d
    const { req, via, p, c, waiter } = a
    // The runner lookup does not depend on the auth answer: a cold request sends both at once.
    const runners = d.resolver.runners
    if (!runners.isKnown(p.label)) d.resolver.runner(p.label, waiter).catch(ignore)
    const auth = allowed ?? (signed !== null
      ? await d.signedFiles.authorize(p.label, signed, waiter)
      : await d.auth.authenticate({ label: p.label, port: p.port, credentials: c, toolbox: p.toolbox, waiter, digests: digestsOf(req) }))
    if (waiter.destroyed) return GONE
    if (auth.verdict !== 'allow') return d.unauthorized.decide(req, via, auth, p, c, waiter)
    const id = auth.sandboxId
    a.note.sandboxId = id
    // Read after the auth answer (a cold one awaited the platform, which may have moved the sandbox).
    // Warm: the cached runner, no await (null, "none holds it", is looked up again: rare).
    let runner = runners.peek(id) ?? await runnerOf(d.resolver, id, waiter)
    if (waiter.destroyed) return GONE
    if (runner === null) {
      const w = await d.wake.afterNoRunner(id, waiter)
      if (waiter.destroyed) return GONE
      if ('answer' in w) return this.wakeAnswer(req, via, w.answer)
      runner = w.runner
    }
    if ('kind' in runner) return runner
    const b = upstreamFor(runner, id, p.toolbox ? 'toolbox' : p.port)
    if (b === null) return NO_RUNNER_ADDRESS

    if (this.#warningApplies(req, via, p)) {
      // SPEC §10: per sandbox; a signed-token label is asked with its port.
      const show = await (d.warning as PreviewWarning).enabledFor(p.label, id === p.label ? undefined : p.port, waiter)
      if (waiter.destroyed) return GONE
      if (show) return { kind: 'warning', host: p.host, url: `${d.protocol}://${p.host}${p.path}${p.target.hasQuery ? `?${p.target.query}` : ''}` }
    }
    return this.#admitted(a, auth, b)
  }

  /** SPEC §10: the interstitial may be due (a browser on an app port without the accept cookie). */
  #warningApplies(req: IncomingMessage, via: Via, p: PreviewTarget): boolean {
    const w = this.#d.warning
    return via === 'request' && w !== null && !p.toolbox && !isReservedPort(p.port) && w.shouldShow(req)
  }

  /** The last steps need no answer from anyone: connection cap, activity, CORS, upstream path and headers. */
  #admitted(a: Asked, auth: Allowed, b: UpstreamBase): Decision {
    const d = this.#d
    const { req, via, p, c, origin, disableCors } = a
    const id = auth.sandboxId
    if (!d.limiter.tryAcquire(id)) return TOO_MANY_CONNECTIONS
    if (header(req, 'x-daytona-skip-last-activity-update') !== 'true') d.activity.touch(id)

    let cors: readonly string[] | null = null
    if (!disableCors && origin !== undefined) {
      const grant = auth.method !== 'session_cookie' || d.cors.isSameSandboxOrigin(origin, id, p.label)
      cors = d.cors.responseHeaders(origin, grant)
    }
    const peer = req.socket.remoteAddress
    const headers = buildUpstreamHeaders(req.rawHeaders, {
      dropAuthorization: auth.examinedAuthorization,
      upgrade: via === 'upgrade',
      runnerKey: b.runnerKey,
      forwardedHost: p.host,
      forwardedProto: d.protocol,
      remoteAddress: peer ?? '',
      trustForwarded: d.trusted.isTrusted(peer),
    })
    return {
      kind: 'admit',
      sandboxId: id,
      method: auth.method,
      toolbox: p.toolbox,
      origin: b.origin,
      path: upstreamPath(b, p, c),
      headers,
      setCookie: auth.setCookie,
      cors,
      holdsSlot: d.limiter.enabled,
    }
  }

  /** The runner refused the connection after admission (SPEC §10): what to answer instead of 502. */
  async afterRefused(req: IncomingMessage | undefined, via: Via, sandboxId: string, waiter: Client): Promise<Decision> {
    const code = await this.#d.wake.afterRefused(sandboxId, waiter)
    return waiter.destroyed ? GONE : this.wakeAnswer(req, via, code)
  }

  /** SPEC §10: a browser navigation gets the self-refreshing starting page; the rest a 503 with Retry-After. */
  wakeAnswer(req: IncomingMessage | undefined, via: Via, code: GatewayErrorCode): Decision {
    if (code === 'SANDBOX_STARTING' && via === 'request' && req !== undefined && (req.method === 'GET' || req.method === 'HEAD') && isNavigation(req)) return STARTING
    return refused(code, undefined, ERRORS[code].status === 503 ? RETRY_AFTER_SEC : undefined)
  }

  /** The runner refused or reset a connection: its cached address is dropped (SPEC §5). */
  dropRunner(sandboxId: string): void {
    this.#d.resolver.dropRunner(sandboxId)
  }

  /** A slot taken at admission, given back when the exchange or tunnel ends. */
  release(sandboxId: string): void {
    this.#d.limiter.release(sandboxId)
  }

  get cors(): CorsPolicy {
    return this.#d.cors
  }
}

const STARTING: Decision = Object.freeze({ kind: 'starting' })
