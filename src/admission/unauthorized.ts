import type { IncomingMessage } from 'node:http'
import type { AuthDecision, Credentials } from '../auth/chain.js'
import type { OidcLogin } from '../auth/oidc.js'
import { isNavigation } from '../errors/respond.js'
import type { Resolver } from '../resolve/resolver.js'
import type { SandboxLookup } from '../resolve/sandbox-lookup.js'
import type { SandboxWake } from '../wake/sandbox-wake.js'
import type { PreviewTarget } from '../routing/host-route.js'
import { parseHost } from '../routing/preview-host.js'
import { GONE, refused, type Client, type Decision, type Via } from './decision.js'
import { runnerOf } from './runner.js'

export interface UnauthorizedDeps {
  readonly domains: readonly string[]
  readonly protocol: 'http' | 'https'
  readonly publicPort: number | undefined
  readonly oidc: OidcLogin
  readonly resolver: Resolver
  readonly sandboxLookup: SandboxLookup
  /** Asks the platform whether a label no runner holds is a sandbox at all (stopped, archived). */
  readonly wake: SandboxWake
}

const UNAVAILABLE = refused('CONTROL_PLANE_UNAVAILABLE', 503, 5)
const UNAUTHORIZED = refused('UNAUTHORIZED')
const SANDBOX_NOT_FOUND = refused('SANDBOX_NOT_FOUND')
const INVALID_LINK = refused('INVALID_LINK')

/**
 * SPEC §3 step 6, what a request the auth chain did not admit is told: 503 when the platform
 * could not answer, a login redirect for a browser navigation only (never fetch/XHR, assets, API
 * clients, upgrades or the toolbox), 401 for everything else.
 */
export class Unauthorized {
  readonly #d: UnauthorizedDeps

  constructor(deps: UnauthorizedDeps) {
    this.#d = deps
  }

  async decide(req: IncomingMessage, via: Via, auth: AuthDecision, p: PreviewTarget, c: Credentials, waiter: Client): Promise<Decision> {
    if (auth.verdict === 'unavailable') return UNAVAILABLE
    if (p.toolbox) return this.#toolbox(p, c, waiter)
    if (via === 'upgrade' || (req.method !== 'GET' && req.method !== 'HEAD') || !isNavigation(req)) return UNAUTHORIZED
    // A label that is no sandbox (no runner holds it, and the platform does not know it) was a
    // signed link that is no longer valid: say so instead of sending the browser round a login that
    // cannot help (no login loop). A stopped or archived sandbox has no runner but is one: log in.
    let runner
    try { runner = await runnerOf(this.#d.resolver, p.label, waiter) } catch { return GONE }
    if (runner === null && !(await this.#d.wake.isKnown(p.label, waiter))) return INVALID_LINK
    if (waiter.destroyed || (await this.#d.oidc.settings()) === null) return UNAUTHORIZED
    const m = parseHost(p.host, this.#d.domains)
    if (m.kind !== 'preview') return UNAUTHORIZED
    const location = this.#d.oidc.loginStart(m.baseDomain, this.#publicUrl(m.baseDomain, p))
    return location === null ? UNAUTHORIZED : { kind: 'login', location }
  }

  /** SPEC §10: a bearer the API refused because the sandbox does not exist gets 404 SANDBOX_NOT_FOUND. */
  async #toolbox(p: PreviewTarget, c: Credentials, waiter: Client): Promise<Decision> {
    if (c.bearer === undefined || c.bearer === '') return UNAUTHORIZED
    const seen = await this.#d.sandboxLookup.forUser(p.label, c.bearer, waiter)
    if (waiter.destroyed) return GONE
    return seen === 'not_found' ? SANDBOX_NOT_FOUND : UNAUTHORIZED
  }

  /**
   * The URL the user sees: configured scheme and public port, never the client's own port; the
   * host as routed (its label and port), the target as received.
   */
  #publicUrl(baseDomain: string, p: PreviewTarget): string {
    const port = this.#d.publicPort
    const t = p.target
    return `${this.#d.protocol}://${p.port}-${p.label}.${baseDomain}${port === undefined ? '' : `:${port}`}${t.path}${t.hasQuery ? `?${t.query}` : ''}`
  }
}
