/**
 * A fake OpenID Connect issuer on 127.0.0.1:0 for the browser login tests (SPEC §4): discovery,
 * JWKS (a fresh RS256 key), /authorize (auto-approves by default, or shows a tiny sign-in page),
 * /token (authorization_code with PKCE S256, client authentication and redirect_uri checked) and
 * a call log. Access tokens are opaque random strings: the gateway may judge them only through
 * `/preview/{id}/access` of the control plane, never by decoding them.
 *
 * The issuer identifier is `http://127.0.0.1:{port}` (what the gateway discovers through
 * OIDC_DOMAIN). With `browserHost` (e.g. `issuer.test`) the advertised authorization endpoint
 * uses that host instead, so a browser mapping it to 127.0.0.1 talks to the same server under a
 * site of its own (front-channel host ≠ back-channel host, as with many real deployments).
 */
import http from 'node:http'
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http'
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import { EventEmitter } from 'node:events'
import { SignJWT, exportJWK, generateKeyPair } from 'jose'
import type { CryptoKey, JWK } from 'jose'

export interface IssuerCall {
  readonly seq: number
  readonly method: string
  readonly path: string
  readonly url: string
  readonly query: Readonly<Record<string, string>>
  readonly headers: IncomingHttpHeaders
  /** The form body of POSTs, decoded. */
  readonly form: Readonly<Record<string, string>>
  readonly at: number
  /** Status the issuer answered with (0 until answered). */
  status: number
}

/** One accepted authorization request (what /authorize saw). */
export interface AuthorizeRecord {
  readonly clientId: string
  readonly redirectUri: string
  readonly responseType: string
  readonly scope: string
  readonly state: string | undefined
  readonly nonce: string | undefined
  readonly codeChallenge: string | undefined
  readonly codeChallengeMethod: string | undefined
  readonly audience: string | undefined
  readonly query: Readonly<Record<string, string>>
}

/** One token exchange and how it was judged. */
export interface TokenRecord {
  readonly ok: boolean
  /** OAuth error code when refused. */
  readonly error: string | undefined
  readonly clientAuth: 'client_secret_basic' | 'client_secret_post' | 'none' | 'invalid'
  readonly pkceVerified: boolean
  readonly redirectUri: string | undefined
  readonly accessToken: string | undefined
}

interface PendingCode {
  readonly auth: AuthorizeRecord
  readonly expiresAt: number
  used: boolean
}

export interface FakeOidcIssuerOptions {
  readonly clientId?: string
  /** Client secret; undefined = a public client (token endpoint auth `none`). */
  readonly clientSecret?: string | undefined
  /** Host name a browser uses for the authorization endpoint (port kept). */
  readonly browserHost?: string
  /** `sub` of the user who "signs in". */
  readonly subject?: string
}

const CODE_TTL_MS = 60_000

function b64url(buf: Buffer): string {
  return buf.toString('base64url')
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a)
  const y = Buffer.from(b)
  return x.length === y.length && timingSafeEqual(x, y)
}

export class FakeOidcIssuer {
  readonly server: http.Server
  readonly events = new EventEmitter()
  readonly clientId: string
  readonly clientSecret: string | undefined
  readonly subject: string
  /** Accepted `redirect_uri` values; empty = any (set it once the gateway's port is known). */
  readonly redirectUris = new Set<string>()
  /** The opaque access token issued to the user (add it to the sandboxes the user may see). */
  accessToken: string
  /** false: /authorize shows a sign-in page with a button instead of redirecting at once. */
  autoApprove = true
  /** Next /authorize redirects back with this `error` (e.g. `access_denied`) instead of a code. */
  nextAuthorizeError: string | undefined
  /** Next /authorize redirects back with a `state` other than the one it received. */
  tamperNextState = false
  readonly authorizations: AuthorizeRecord[] = []
  readonly tokens: TokenRecord[] = []
  readonly #log: IssuerCall[] = []
  readonly #codes = new Map<string, PendingCode>()
  readonly #pendingApprovals = new Map<string, AuthorizeRecord>()
  readonly #browserHost: string | undefined
  #privateKey: CryptoKey | undefined
  #jwk: JWK | undefined
  readonly #kid = `k-${randomBytes(4).toString('hex')}`
  #port = 0
  #seq = 0

  private constructor(o: FakeOidcIssuerOptions) {
    this.clientId = o.clientId ?? 'preview-gateway'
    this.clientSecret = 'clientSecret' in o ? o.clientSecret : 'fake-client-secret-7c1d'
    this.subject = o.subject ?? 'user-1'
    this.#browserHost = o.browserHost
    this.accessToken = `at_${randomBytes(18).toString('hex')}`
    this.events.setMaxListeners(0)
    this.server = http.createServer((req, res) => { this.#onRequest(req, res) })
    this.server.keepAliveTimeout = 2_000
  }

  static async start(o: FakeOidcIssuerOptions = {}): Promise<FakeOidcIssuer> {
    const iss = new FakeOidcIssuer(o)
    const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true })
    iss.#privateKey = privateKey
    iss.#jwk = { ...(await exportJWK(publicKey)), kid: iss.#kid, alg: 'RS256', use: 'sig' }
    await new Promise<void>((resolve, reject) => {
      iss.server.once('error', reject)
      iss.server.listen(0, '127.0.0.1', () => resolve())
    })
    const addr = iss.server.address()
    if (addr === null || typeof addr === 'string') throw new Error('fake issuer has no port')
    iss.#port = addr.port
    return iss
  }

  get port(): number { return this.#port }
  /** The issuer identifier (OIDC_DOMAIN). */
  get issuer(): string { return `http://127.0.0.1:${this.#port}` }
  /** Where browsers are sent to sign in. */
  get authorizationEndpoint(): string {
    return `http://${this.#browserHost ?? '127.0.0.1'}:${this.#port}/authorize`
  }

  /** Calls whose path starts with `prefix`, oldest first. */
  calls(prefix = ''): IssuerCall[] {
    return this.#log.filter((c) => c.path.startsWith(prefix))
  }

  async close(): Promise<void> {
    this.server.closeAllConnections()
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
  }

  // ---- request handling ----------------------------------------------------------------------

  #onRequest(req: IncomingMessage, res: ServerResponse): void {
    const url = req.url ?? '/'
    const u = new URL(url, 'http://issuer.invalid')
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('error', () => { /* client went away */ })
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8')
      const isForm = (req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded')
      this.#seq += 1
      const call: IssuerCall = {
        seq: this.#seq,
        method: req.method ?? 'GET',
        path: u.pathname,
        url,
        query: Object.fromEntries(u.searchParams),
        headers: req.headers,
        form: isForm ? Object.fromEntries(new URLSearchParams(body)) : {},
        at: Date.now(),
        status: 0,
      }
      this.#log.push(call)
      res.on('finish', () => { call.status = res.statusCode })
      this.events.emit('call', call)
      this.#route(req, res, call).catch(() => {
        if (!res.headersSent) this.#json(res, 500, { error: 'server_error' })
        else res.destroy()
      })
    })
  }

  async #route(req: IncomingMessage, res: ServerResponse, call: IssuerCall): Promise<void> {
    const method = req.method ?? 'GET'
    switch (call.path) {
      case '/.well-known/openid-configuration':
        return this.#json(res, 200, this.#discovery())
      case '/jwks':
        return this.#json(res, 200, { keys: [this.#jwk] })
      case '/authorize':
        if (method !== 'GET') return this.#json(res, 405, { error: 'invalid_request' })
        return this.#authorize(res, call)
      case '/authorize/approve':
        if (method !== 'GET') return this.#json(res, 405, { error: 'invalid_request' })
        return this.#approve(res, call)
      case '/token':
        if (method !== 'POST') return this.#json(res, 405, { error: 'invalid_request' })
        return this.#token(req, res, call)
      default:
        return this.#json(res, 404, { error: 'not_found' })
    }
  }

  #discovery(): Record<string, unknown> {
    return {
      issuer: this.issuer,
      authorization_endpoint: this.authorizationEndpoint,
      token_endpoint: `${this.issuer}/token`,
      jwks_uri: `${this.issuer}/jwks`,
      response_types_supported: ['code'],
      grant_types_supported: ['authorization_code'],
      subject_types_supported: ['public'],
      id_token_signing_alg_values_supported: ['RS256'],
      code_challenge_methods_supported: ['S256'],
      scopes_supported: ['openid', 'profile', 'email'],
      token_endpoint_auth_methods_supported: this.clientSecret === undefined ? ['none'] : ['client_secret_basic', 'client_secret_post'],
    }
  }

  #authorize(res: ServerResponse, call: IssuerCall): void {
    const q = call.query
    const clientId = q.client_id ?? ''
    const redirectUri = q.redirect_uri ?? ''
    // RFC 6749 §4.1.2.1: an unknown client or redirect URI is never redirected to.
    if (clientId !== this.clientId) return this.#page(res, 400, 'Unknown client', `client_id ${clientId} is not registered.`)
    if (redirectUri === '' || (this.redirectUris.size > 0 && !this.redirectUris.has(redirectUri))) {
      return this.#page(res, 400, 'Bad redirect_uri', `redirect_uri ${redirectUri} is not registered for this client.`)
    }
    const auth: AuthorizeRecord = {
      clientId,
      redirectUri,
      responseType: q.response_type ?? '',
      scope: q.scope ?? '',
      state: q.state,
      nonce: q.nonce,
      codeChallenge: q.code_challenge,
      codeChallengeMethod: q.code_challenge_method,
      audience: q.audience,
      query: q,
    }
    this.authorizations.push(auth)
    if (auth.responseType !== 'code') return this.#redirectBack(res, auth, { error: 'unsupported_response_type' })
    if (!(auth.scope.split(' ').includes('openid'))) return this.#redirectBack(res, auth, { error: 'invalid_scope' })
    if (auth.codeChallenge === undefined || auth.codeChallengeMethod !== 'S256') {
      return this.#redirectBack(res, auth, { error: 'invalid_request', error_description: 'PKCE S256 required' })
    }
    if (this.autoApprove) return this.#grant(res, auth)
    const id = b64url(randomBytes(12))
    this.#pendingApprovals.set(id, auth)
    const body = `<!doctype html><html><head><meta charset="utf-8"><title>Fake issuer sign-in</title></head><body>` +
      `<h1 id="issuer-login">Sign in to the fake issuer</h1><p>Client <code>${escapeHtml(clientId)}</code> asks to sign you in.</p>` +
      `<form method="get" action="/authorize/approve"><input type="hidden" name="req" value="${escapeHtml(id)}"><button id="approve" type="submit">Sign in</button></form></body></html>`
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' })
    res.end(body)
  }

  #approve(res: ServerResponse, call: IssuerCall): void {
    const auth = this.#pendingApprovals.get(call.query.req ?? '')
    if (auth === undefined) return this.#page(res, 400, 'Unknown request', 'This sign-in request is unknown or was already used.')
    this.#pendingApprovals.delete(call.query.req ?? '')
    this.#grant(res, auth)
  }

  #grant(res: ServerResponse, auth: AuthorizeRecord): void {
    if (this.nextAuthorizeError !== undefined) {
      const error = this.nextAuthorizeError
      this.nextAuthorizeError = undefined
      return this.#redirectBack(res, auth, { error })
    }
    const code = b64url(randomBytes(24))
    this.#codes.set(code, { auth, expiresAt: Date.now() + CODE_TTL_MS, used: false })
    this.#redirectBack(res, auth, { code })
  }

  #redirectBack(res: ServerResponse, auth: AuthorizeRecord, params: Record<string, string>): void {
    const target = new URL(auth.redirectUri)
    for (const [k, v] of Object.entries(params)) target.searchParams.set(k, v)
    let state = auth.state
    if (this.tamperNextState && state !== undefined) {
      this.tamperNextState = false
      state = `${state.slice(0, -4)}AAAA`
    }
    if (state !== undefined) target.searchParams.set('state', state)
    res.writeHead(302, { location: target.href, 'cache-control': 'no-store' })
    res.end()
  }

  #clientAuth(req: IncomingMessage, form: Readonly<Record<string, string>>): TokenRecord['clientAuth'] {
    const h = req.headers.authorization
    if (h !== undefined && /^Basic /i.test(h)) {
      const decoded = Buffer.from(h.slice(6).trim(), 'base64').toString('utf8')
      const colon = decoded.indexOf(':')
      const id = decodeURIComponent(decoded.slice(0, colon))
      const secret = decodeURIComponent(decoded.slice(colon + 1))
      return colon > 0 && id === this.clientId && this.clientSecret !== undefined && safeEqual(secret, this.clientSecret) ? 'client_secret_basic' : 'invalid'
    }
    if (form.client_secret !== undefined) {
      return form.client_id === this.clientId && this.clientSecret !== undefined && safeEqual(form.client_secret, this.clientSecret) ? 'client_secret_post' : 'invalid'
    }
    return this.clientSecret === undefined && form.client_id === this.clientId ? 'none' : 'invalid'
  }

  async #token(req: IncomingMessage, res: ServerResponse, call: IssuerCall): Promise<void> {
    const form = call.form
    const clientAuth = this.#clientAuth(req, form)
    const refuse = (status: number, error: string, pkceVerified = false): void => {
      this.tokens.push({ ok: false, error, clientAuth, pkceVerified, redirectUri: form.redirect_uri, accessToken: undefined })
      this.#json(res, status, { error })
    }
    if (clientAuth === 'invalid') return refuse(401, 'invalid_client')
    if (form.grant_type !== 'authorization_code') return refuse(400, 'unsupported_grant_type')
    const pending = this.#codes.get(form.code ?? '')
    if (pending === undefined || pending.used || pending.expiresAt < Date.now()) return refuse(400, 'invalid_grant')
    pending.used = true
    const auth = pending.auth
    if (auth.clientId !== this.clientId) return refuse(400, 'invalid_grant')
    if (form.redirect_uri !== auth.redirectUri) return refuse(400, 'invalid_grant')
    const verifier = form.code_verifier ?? ''
    // RFC 7636 §4.1: 43–128 characters of the unreserved set.
    if (!/^[A-Za-z0-9._~-]{43,128}$/.test(verifier)) return refuse(400, 'invalid_grant')
    const expected = b64url(createHash('sha256').update(verifier, 'ascii').digest())
    if (auth.codeChallengeMethod !== 'S256' || auth.codeChallenge === undefined || !safeEqual(expected, auth.codeChallenge)) return refuse(400, 'invalid_grant')
    const now = Math.floor(Date.now() / 1000)
    if (this.#privateKey === undefined) throw new Error('issuer key not ready')
    const idToken = await new SignJWT({ ...(auth.nonce === undefined ? {} : { nonce: auth.nonce }), email: `${this.subject}@example.test` })
      .setProtectedHeader({ alg: 'RS256', kid: this.#kid, typ: 'JWT' })
      .setIssuer(this.issuer)
      .setSubject(this.subject)
      .setAudience(this.clientId)
      .setIssuedAt(now)
      .setExpirationTime(now + 300)
      .sign(this.#privateKey)
    this.tokens.push({ ok: true, error: undefined, clientAuth, pkceVerified: true, redirectUri: form.redirect_uri, accessToken: this.accessToken })
    this.#json(res, 200, {
      access_token: this.accessToken,
      token_type: 'Bearer',
      expires_in: 3600,
      scope: auth.scope,
      id_token: idToken,
    })
  }

  #json(res: ServerResponse, status: number, value: unknown): void {
    const body = JSON.stringify(value)
    res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(body) })
    res.end(body)
  }

  #page(res: ServerResponse, status: number, title: string, text: string): void {
    const body = `<!doctype html><html><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head><body><h1 id="issuer-error">${escapeHtml(title)}</h1><p>${escapeHtml(text)}</p></body></html>`
    res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' })
    res.end(body)
  }
}
