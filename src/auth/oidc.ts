import type { IncomingMessage } from 'node:http'
import { randomUUID } from 'node:crypto'
import { EncryptJWT, SignJWT, jwtDecrypt, jwtVerify } from 'jose'
import type * as Oidc from 'openid-client'
import type { Config } from '../config/load.js'
import type { ControlPlane } from '../control-plane/types.js'
import type { FleetHooks } from '../fleet/hooks.js'
import { parseHost } from '../routing/preview-host.js'
import { absoluteOn, resolveLikeBrowser } from '../routing/redirect.js'
import { findQueryParam, removeQueryParam } from '../routing/request-target.js'
import { findCookie, LOGIN_COOKIE_PREFIX, serializeCookie } from './cookies.js'
import { deriveKey } from '../config/derived-keys.js'

let openidClient: Promise<typeof Oidc> | undefined
/** openid-client is loaded by the first login: a gateway without OIDC never holds it in its heap. */
function openid(): Promise<typeof Oidc> {
  return (openidClient ??= import('openid-client'))
}

/** SPEC §4: the reserved query parameter carrying the one-time login ticket to the preview host. */
export const LOGIN_TICKET_PARAM = 'DAYTONA_PREVIEW_LOGIN_TICKET'
/** Host-only state/PKCE cookie of the base domain (never visible to preview hosts). */
export const LOGIN_COOKIE = `${LOGIN_COOKIE_PREFIX}login`
const LOGIN_TTL_SEC = 600
const TICKET_TTL_SEC = 60

export interface LoginTicket {
  readonly sid: string
  readonly lbl: string
  readonly prt: number
}

export type CallbackResult =
  | { readonly ok: true; readonly location: string; readonly clearCookie: string }
  | { readonly ok: false; readonly status: 400 | 403 | 502; readonly reason: 'no-login-cookie' | 'bad-state' | 'code-refused' | 'access-denied' | 'issuer-unavailable'; readonly clearCookie: string }

export interface OidcLoginOptions {
  readonly config: Config
  readonly controlPlane: ControlPlane
  readonly secret: string
  /** One-time tickets are claimed fleet-wide (SPEC §9). */
  readonly fleet: FleetHooks
  readonly now?: () => number
}

interface Settings {
  readonly issuer: string
  readonly publicIssuer: string | undefined
  readonly clientId: string
  readonly clientSecret: string | undefined
  readonly audience: string | undefined
}

/**
 * Browser login (SPEC §4): authorization code + PKCE S256 through openid-client, with discovery
 * cached. The state is a signed JWT (nonce, sandbox, return URL) whose nonce must match the
 * encrypted host-only login cookie; the callback checks access with the obtained token and hands
 * the login to the preview host as a ≤ 60 s, one-time ticket.
 */
export class OidcLogin {
  #config: Config
  #cp: ControlPlane
  #stateKey: Uint8Array
  #cookieKey: Uint8Array
  #ticketKey: Uint8Array
  #now: () => number
  #settings: Promise<Settings | null> | undefined
  #discovered: Promise<Oidc.Configuration> | undefined
  #discoveredAt = 0
  #fleet: FleetHooks

  constructor(o: OidcLoginOptions) {
    this.#config = o.config
    this.#cp = o.controlPlane
    this.#fleet = o.fleet
    this.#stateKey = deriveKey(o.secret, 'oidc-state-v1')
    this.#cookieKey = deriveKey(o.secret, 'oidc-login-cookie-v1')
    this.#ticketKey = deriveKey(o.secret, 'login-ticket-v1')
    this.#now = o.now ?? Date.now
  }

  /** Env first, then the API's `/config` oidc block (SPEC §2); null when login is not configured. */
  settings(): Promise<Settings | null> {
    this.#settings ??= this.#loadSettings().catch(() => { this.#settings = undefined; return null })
    return this.#settings
  }

  async #loadSettings(): Promise<Settings | null> {
    const e = this.#config.oidc
    let issuer = e.domain
    let clientId = e.clientId
    let audience = e.audience
    if ((issuer === undefined || clientId === undefined) && this.#cp.kind === 'daytona') {
      const remote = await this.#cp.oidcSettings()
      issuer ??= remote?.issuer
      clientId ??= remote?.clientId
      audience ??= remote?.audience
    }
    if (issuer === undefined || clientId === undefined) return null
    return { issuer, publicIssuer: e.publicDomain, clientId, clientSecret: e.clientSecret, audience }
  }

  async #discover(s: Settings): Promise<Oidc.Configuration> {
    const oidc = await openid()
    // Discovery is cached; a failure is retried by the next login after 30 s, not per request.
    if (this.#discovered === undefined || (this.#discoveredAt !== 0 && this.#now() - this.#discoveredAt > 86_400_000)) {
      this.#discoveredAt = this.#now()
      const auth = s.clientSecret === undefined ? oidc.None() : oidc.ClientSecretPost(s.clientSecret)
      const insecure = new URL(s.issuer).protocol === 'http:'
      this.#discovered = oidc.discovery(new URL(s.issuer), s.clientId, s.clientSecret === undefined ? undefined : s.clientSecret, auth, {
        timeout: Math.ceil(this.#config.apiTimeoutMs / 1000),
        ...(insecure ? { execute: [oidc.allowInsecureRequests] } : {}),
      }).catch((err: unknown) => {
        setTimeout(() => { this.#discovered = undefined }, 30_000).unref()
        throw err
      })
    }
    return this.#discovered
  }

  /** `{PROXY_PROTOCOL}://{baseDomain}[:PROXY_PUBLIC_PORT]`, from configuration only. */
  baseOrigin(baseDomain: string): string {
    const port = this.#config.publicPort
    return `${this.#config.protocol}://${baseDomain}${port === undefined ? '' : `:${port}`}`
  }

  redirectUri(baseDomain: string): string {
    return `${this.baseOrigin(baseDomain)}/callback`
  }

  /** The hop from the preview host to the base domain's login route (null: no such base domain). */
  loginStart(baseDomain: string, returnUrl: string): string | null {
    const u = absoluteOn(this.baseOrigin(baseDomain), `/login?return=${encodeURIComponent(returnUrl)}`, baseDomain)
    return u === null ? null : u.href
  }

  /**
   * The return URL must be a preview host of this gateway on this base domain, with our scheme
   * and public port: never an open redirect. Returns the preview label and port.
   */
  checkReturnUrl(raw: string | undefined, baseDomain: string): { url: URL; label: string; port: number } | null {
    if (raw === undefined || raw.length > 4096) return null
    let u: URL
    try { u = new URL(raw) } catch { return null }
    if (u.protocol !== `${this.#config.protocol}:` || u.username !== '' || u.password !== '') return null
    const wantPort = this.#config.publicPort === undefined ? '' : String(this.#config.publicPort)
    if (u.port !== wantPort) return null
    const domains = this.#config.domains.length > 0 ? this.#config.domains : [baseDomain]
    const m = parseHost(u.host, domains)
    if (m.kind !== 'preview' || m.baseDomain !== baseDomain) return null
    return { url: u, label: m.label, port: m.port }
  }

  /** GET /login on the base domain: sets the login cookie and redirects to the issuer. */
  async login(query: string, baseDomain: string): Promise<{ location: string; cookie: string } | { error: 400 | 502 }> {
    const ret = this.checkReturnUrl(findQueryParam(query, 'return'), baseDomain)
    if (ret === null) return { error: 400 }
    const s = await this.settings()
    if (s === null) return { error: 400 }
    let cfg: Oidc.Configuration
    try { cfg = await this.#discover(s) } catch { return { error: 502 } }
    const oidc = await openid()
    const nonce = oidc.randomNonce()
    const verifier = oidc.randomPKCECodeVerifier()
    const challenge = await oidc.calculatePKCECodeChallenge(verifier)
    const iat = Math.floor(this.#now() / 1000)
    const state = await new SignJWT({ n: nonce, sid: ret.label, prt: ret.port, ret: ret.url.href })
      .setProtectedHeader({ alg: 'HS256' }).setIssuedAt(iat).setExpirationTime(iat + LOGIN_TTL_SEC).sign(this.#stateKey)
    const cookieValue = await new EncryptJWT({ n: nonce, v: verifier })
      .setProtectedHeader({ alg: 'dir', enc: 'A256GCM' }).setIssuedAt(iat).setExpirationTime(iat + LOGIN_TTL_SEC).encrypt(this.#cookieKey)
    const params: Record<string, string> = {
      redirect_uri: this.redirectUri(baseDomain),
      scope: 'openid profile email',
      response_type: 'code',
      code_challenge: challenge,
      code_challenge_method: 'S256',
      state,
      nonce,
    }
    if (s.audience !== undefined) params.audience = s.audience
    const url = oidc.buildAuthorizationUrl(cfg, params)
    if (s.publicIssuer !== undefined) {
      const pub = new URL(s.publicIssuer)
      url.protocol = pub.protocol
      url.host = pub.host
    }
    return { location: url.href, cookie: this.#loginCookie(cookieValue, LOGIN_TTL_SEC) }
  }

  #loginCookie(value: string, maxAge: number): string {
    // SPEC §3: COOKIE_DOMAIN may widen the login-flow cookie only; default host-only.
    return serializeCookie(LOGIN_COOKIE, value, {
      secure: this.#config.protocol === 'https',
      maxAgeSec: maxAge,
      ...(this.#config.cookieDomain === undefined ? {} : { domain: this.#config.cookieDomain }),
    })
  }

  /** GET /callback: code exchange, access check, one-time ticket back to the preview host. */
  async callback(req: IncomingMessage, rawTarget: string, baseDomain: string): Promise<CallbackResult> {
    const clearCookie = this.#loginCookie('', 0)
    const cookieValue = findCookie(req.headers.cookie, LOGIN_COOKIE)
    if (cookieValue === undefined || cookieValue === '') return { ok: false, status: 400, reason: 'no-login-cookie', clearCookie }
    const q = rawTarget.indexOf('?')
    const query = q === -1 ? '' : rawTarget.slice(q + 1)
    const stateParam = findQueryParam(query, 'state')
    let nonce: string, verifier: string, sid: string, prt: number, ret: string
    try {
      const c = await jwtDecrypt(cookieValue, this.#cookieKey, { currentDate: new Date(this.#now()) })
      const st = await jwtVerify(stateParam ?? '', this.#stateKey, { algorithms: ['HS256'], currentDate: new Date(this.#now()) })
      nonce = String(c.payload.n); verifier = String(c.payload.v)
      if (st.payload.n !== nonce) throw new Error('nonce mismatch')
      sid = String(st.payload.sid); prt = Number(st.payload.prt); ret = String(st.payload.ret)
    } catch {
      return { ok: false, status: 400, reason: 'bad-state', clearCookie }
    }
    const checked = this.checkReturnUrl(ret, baseDomain)
    if (checked === null || checked.label !== sid || checked.port !== prt) return { ok: false, status: 400, reason: 'bad-state', clearCookie }
    const s = await this.settings()
    if (s === null) return { ok: false, status: 400, reason: 'bad-state', clearCookie }
    let accessToken: string
    try {
      const cfg = await this.#discover(s)
      const current = new URL(this.redirectUri(baseDomain))
      current.search = query
      const tokens = await (await openid()).authorizationCodeGrant(cfg, current, { pkceCodeVerifier: verifier, expectedState: stateParam ?? '', expectedNonce: nonce, idTokenExpected: true })
      accessToken = tokens.access_token
    } catch {
      return { ok: false, status: 403, reason: 'code-refused', clearCookie }
    }
    let allowed: boolean
    try { allowed = await this.#cp.hasAccess(sid, accessToken) } catch { return { ok: false, status: 502, reason: 'issuer-unavailable', clearCookie } }
    if (!allowed) return { ok: false, status: 403, reason: 'access-denied', clearCookie }
    const iat = Math.floor(this.#now() / 1000)
    const ticket = await new SignJWT({ sid, lbl: sid, prt })
      .setProtectedHeader({ alg: 'HS256' }).setJti(randomUUID()).setIssuedAt(iat).setExpirationTime(iat + TICKET_TTL_SEC).sign(this.#ticketKey)
    // Built from the checked URL and checked again: the browser must land on that preview host.
    const back = resolveLikeBrowser(withTicket(checked.url.href, ticket), checked.url)
    if (back === null || back.origin !== checked.url.origin) return { ok: false, status: 400, reason: 'bad-state', clearCookie }
    return { ok: true, location: back.href, clearCookie }
  }

  /** On the preview host: a valid, unused ticket for this label and port, or null. */
  async redeemTicket(ticket: string, label: string, port: number): Promise<LoginTicket | null> {
    try {
      const { payload } = await jwtVerify(ticket, this.#ticketKey, { algorithms: ['HS256'], currentDate: new Date(this.#now()) })
      if (payload.lbl !== label || payload.prt !== port || typeof payload.sid !== 'string' || typeof payload.jti !== 'string') return null
      if (!await this.#fleet.claimOnce(`ticket:${payload.jti}`, TICKET_TTL_SEC)) return null
      return { sid: payload.sid, lbl: label, prt: port }
    } catch {
      return null
    }
  }
}

/** The return URL with the ticket parameter added; every other byte of it kept. */
function withTicket(ret: string, ticket: string): string {
  const hashAt = ret.indexOf('#')
  const hash = hashAt === -1 ? '' : ret.slice(hashAt)
  const noHash = hashAt === -1 ? ret : ret.slice(0, hashAt)
  const q = noHash.indexOf('?')
  const base = q === -1 ? noHash : noHash.slice(0, q)
  const query = q === -1 ? '' : removeQueryParam(noHash.slice(q + 1), LOGIN_TICKET_PARAM)
  return `${base}?${query === '' ? '' : query + '&'}${LOGIN_TICKET_PARAM}=${ticket}${hash}`
}
