// auth/ owns who may see a preview: the SPEC §3 credential chain (chain.ts), session cookies,
// OIDC browser login, signed file URLs, and the names of the gateway's own cookies.
import { isGatewayError } from '../errors/codes.js'
import type { Resolver } from '../resolve/resolver.js'
import type { Waiter } from '../resolve/cache.js'
import { hashToken, type ConnectionDigests } from '../resolve/resolver.js'
import { TOKEN_HOST_SESSION_SEC, type SessionSigner } from './session.js'

/** SPEC §3: web terminal, toolbox, recording dashboard always need credentials. */
export const RESERVED_PORTS: ReadonlySet<number> = new Set([22222, 2280, 33333])

export function isReservedPort(port: number): boolean {
  return RESERVED_PORTS.has(port)
}

export type AuthMethod = 'public' | 'bearer' | 'preview_token' | 'query_key' | 'session_cookie' | 'signed_token' | 'signed_url'

/** The credentials a request carries, extracted once by the listener. */
export interface Credentials {
  readonly bearer: string | undefined
  readonly previewToken: string | undefined
  readonly queryKey: string | undefined
  readonly sessionCookie: string | undefined
}

export interface AuthRequest {
  readonly label: string
  readonly port: number
  readonly credentials: Credentials
  /** Toolbox route: no public shortcut and no signed-token step (the label is a sandbox id). */
  readonly toolbox: boolean
  readonly waiter: Waiter
  /** The connection's memo of token digests (requests on one keep-alive connection repeat a token). */
  readonly digests?: ConnectionDigests
}

export type AuthDecision =
  | { readonly verdict: 'allow'; readonly sandboxId: string; readonly method: AuthMethod; readonly examinedAuthorization: boolean; readonly setCookie?: string }
  | { readonly verdict: 'deny'; readonly examinedAuthorization: boolean }
  | { readonly verdict: 'unavailable'; readonly examinedAuthorization: boolean }

export interface AuthChainOptions {
  readonly resolver: Resolver
  readonly sessions: SessionSigner
  readonly onDecision?: (method: AuthMethod | 'none', result: 'allow' | 'deny' | 'unavailable') => void
}

type Step = boolean | 'unavailable'

function digestOf(digests: ConnectionDigests | undefined, token: string): string {
  return digests !== undefined ? digests.of(token) : hashToken(token)
}

async function settle(p: Promise<boolean>): Promise<Step> {
  try { return await p } catch (err) {
    if (isGatewayError(err)) return 'unavailable'
    throw err // cancelled: the client is gone
  }
}

/**
 * Runs the SPEC §3 methods in order; the first "yes" wins and no later method's call is made.
 * Fail-closed like Envoy's ext_authz: a control-plane failure is never a "yes"; when nothing
 * allows and something failed, the answer is "unavailable" (503), not 401.
 */
export class AuthChain {
  #resolver: Resolver
  #sessions: SessionSigner
  #onDecision: AuthChainOptions['onDecision']

  constructor(options: AuthChainOptions) {
    this.#resolver = options.resolver
    this.#sessions = options.sessions
    this.#onDecision = options.onDecision
  }

  /**
   * The warm path, with nothing to await: the "allow" that authenticate() would reach from cached
   * answers alone (public flag, bearer, preview token, query key), or undefined when it would have
   * to ask the platform, verify a cookie or deny (then authenticate() decides, from the start).
   * Its cache reads are counted only when it decides (authenticate() reads and counts them again).
   */
  allowedNow(label: string, port: number, c: Credentials, toolbox: boolean, digests: ConnectionDigests | undefined): AuthDecision | undefined {
    const r = this.#resolver
    const examined = c.bearer !== undefined
    const askedPublic = !toolbox && !isReservedPort(port)
    if (askedPublic) {
      const pub = r.publicFlags.fresh(label)
      if (pub === undefined) return undefined
      if (pub) return this.#allowedFromCache(label, 'public', false, true, 0)
    }
    if (c.bearer !== undefined) {
      const ok = r.access.fresh(`${label}\0${digestOf(digests, c.bearer)}`)
      if (ok === undefined) return undefined
      if (ok) return this.#allowedFromCache(label, 'bearer', examined, askedPublic, 0)
    }
    let tokenReads = 0
    if (c.previewToken !== undefined) {
      const ok = r.tokens.fresh(`${label}\0${digestOf(digests, c.previewToken)}`)
      if (ok === undefined) return undefined
      tokenReads++
      if (ok) return this.#allowedFromCache(label, 'preview_token', examined, askedPublic, tokenReads)
    }
    if (c.queryKey !== undefined && c.queryKey !== '') {
      const ok = r.tokens.fresh(`${label}\0${digestOf(digests, c.queryKey)}`)
      if (ok === true) return this.#allowedFromCache(label, 'query_key', examined, askedPublic, tokenReads + 1)
    }
    return undefined
  }

  /**
   * An allow from cached answers: the lookups it read are counted as hits, as authenticate() counts
   * them. A bearer was looked up exactly when it was examined (a public allow examines none).
   */
  #allowedFromCache(label: string, method: AuthMethod, examined: boolean, publicRead: boolean, tokenReads: number): AuthDecision {
    const r = this.#resolver
    if (publicRead) r.publicFlags.countHit()
    if (examined) r.access.countHit()
    for (let i = 0; i < tokenReads; i++) r.tokens.countHit()
    return this.#decided({ verdict: 'allow', sandboxId: label, method, examinedAuthorization: examined })
  }

  /** One async step on the hot path (no inner async function): every answer goes through #decided. */
  async authenticate(req: AuthRequest): Promise<AuthDecision> {
    const { label, port, credentials: c, waiter } = req
    const r = this.#resolver
    let failed = false
    const examined = c.bearer !== undefined
    const digests = req.digests
    const tokenDigest = c.previewToken === undefined ? undefined : digestOf(digests, c.previewToken)

    if (!req.toolbox && !isReservedPort(port)) {
      // Independent calls go out together: with a gateway credential present, its check is
      // started alongside the public flag (one round trip when cold). A bearer is not: on a
      // public sandbox it belongs to the app and is not examined.
      const pub = r.publicFlags.peek(label) ?? r.isPublic(label, waiter)
      if (typeof pub !== 'boolean' && c.bearer === undefined && c.previewToken !== undefined && tokenDigest !== undefined) {
        void settle(r.validatePreviewToken(label, c.previewToken, tokenDigest, waiter)).catch(() => undefined)
      }
      const isPub = typeof pub === 'boolean' ? pub : await settle(pub)
      if (isPub === true) return this.#decided({ verdict: 'allow', sandboxId: label, method: 'public', examinedAuthorization: false })
      if (isPub === 'unavailable') failed = true
    }

    if (c.bearer !== undefined) {
      const bearerDigest = digestOf(digests, c.bearer)
      const ok = r.access.peek(`${label}\0${bearerDigest}`) ?? await settle(r.hasAccess(label, c.bearer, bearerDigest, waiter))
      if (ok === true) return this.#decided({ verdict: 'allow', sandboxId: label, method: 'bearer', examinedAuthorization: examined })
      if (ok === 'unavailable') failed = true
    }

    if (c.previewToken !== undefined && tokenDigest !== undefined) {
      const ok = r.tokens.peek(`${label}\0${tokenDigest}`) ?? await settle(r.validatePreviewToken(label, c.previewToken, tokenDigest, waiter))
      if (ok === true) return this.#decided({ verdict: 'allow', sandboxId: label, method: 'preview_token', examinedAuthorization: examined })
      if (ok === 'unavailable') failed = true
    }

    if (c.queryKey !== undefined && c.queryKey !== '') {
      const keyDigest = digestOf(digests, c.queryKey)
      const ok = r.tokens.peek(`${label}\0${keyDigest}`) ?? await settle(r.validatePreviewToken(label, c.queryKey, keyDigest, waiter))
      if (ok === true) return this.#decided({ verdict: 'allow', sandboxId: label, method: 'query_key', examinedAuthorization: examined })
      if (ok === 'unavailable') failed = true
    }

    if (c.sessionCookie !== undefined) {
      const claims = await this.#sessions.verify(c.sessionCookie, label, port)
      if (claims !== null) return this.#decided({ verdict: 'allow', sandboxId: claims.sid, method: 'session_cookie', examinedAuthorization: examined })
    }

    if (!req.toolbox) {
      let id: string | null | 'unavailable'
      try {
        id = await r.sandboxIdFromSignedToken(label, port, waiter)
      } catch (err) {
        if (!isGatewayError(err)) throw err
        id = 'unavailable'
      }
      if (typeof id === 'string' && id !== 'unavailable') {
        const setCookie = await this.#sessions.mintCookie({ sid: id, lbl: label, prt: port }, TOKEN_HOST_SESSION_SEC)
        return this.#decided({ verdict: 'allow', sandboxId: id, method: 'signed_token', examinedAuthorization: examined, setCookie })
      }
      if (id === 'unavailable') failed = true
    }

    return this.#decided(failed ? { verdict: 'unavailable', examinedAuthorization: examined } : { verdict: 'deny', examinedAuthorization: examined })
  }

  #decided(d: AuthDecision): AuthDecision {
    this.#onDecision?.(d.verdict === 'allow' ? d.method : 'none', d.verdict)
    return d
  }
}
