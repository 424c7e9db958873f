/**
 * Issue 12, "one admission path": ONE table of cases, each sent twice to the real gateway process —
 * as a plain HTTP request (non-navigation, like fetch: Accept *\/*, no Sec-Fetch-Mode: navigate) and
 * as a WebSocket upgrade (raw GET with Upgrade: websocket over a net socket, so the raw answer is
 * seen) — and both must reach the same decision:
 * - admitted: the fake runner saw it — same sandbox, port or toolbox, upstream path+query byte for
 *   byte minus our auth parameter, no preview token / bearer / gateway cookie forwarded;
 * - refused: same status, same X-Preview-Error / JSON `code`, same Retry-After, runner untouched.
 * Rows SPEC lets differ run in one mode only (`only`, with the SPEC reason). Rows where the two
 * paths decide differently today without SPEC saying so keep the shared assertion and are node:test
 * `todo` ("differs today: …") until the admission function is shared.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { createHmac } from 'node:crypto'
import { DOMAIN, RUNNER_KEY, startStack } from '../helpers/stack.js'
import type { SandboxHandle, Stack } from '../helpers/stack.js'
import { RawConnection } from '../helpers/gateway.js'
import type { RawResponse } from '../helpers/gateway.js'
import { assertGatewayError, assertNoSecrets, cookiePairs, parseSetCookies } from '../helpers/assertions.js'
import { freePort, newId, newToken, request, waitUntil } from '../helpers/http.js'
import type { Reply } from '../helpers/http.js'
import { closeWs, openWs } from '../helpers/ws.js'
import type { RunnerInfo, SandboxInit } from '../fakes/control-plane.js'
import type { RunnerRequest } from '../fakes/runner.js'
import { FakeOidcIssuer } from '../fakes/oidc-issuer.js'

const ROW_TIMEOUT_MS = 30_000
const ANSWER_TIMEOUT_MS = 10_000
const KEY = 'DAYTONA_SANDBOX_AUTH_KEY'
const TICKET = 'DAYTONA_PREVIEW_LOGIN_TICKET'
const WS_KEY = 'dGhlIHNhbXBsZSBub25jZQ=='
const DEAD_RUNNER_KEY = 'dead-runner-key-5a4b'
const BROWSER_UA = 'Mozilla/5.0 (X11; Linux x86_64) Chrome/130.0'
const NAVIGATE = { 'sec-fetch-mode': 'navigate', 'sec-fetch-dest': 'document', 'sec-fetch-site': 'none', accept: 'text/html', 'user-agent': BROWSER_UA }
/** Retry-After must be there; SPEC fixes no value for this answer. */
const PRESENT = 'present'
/**
 * How long the gateway is held stopped (SIGSTOP) to make its event loop lag: the lag is the fault
 * being injected, not a wait for anything. 2.5 s reads as ≥ 900 ms of smoothed lag, well above
 * OVERLOAD_LAG_MS=500, and takes ~3 samples (0.6 s) to decay below it.
 */
const STOPPED_MS = 2500

type Mode = 'request' | 'upgrade'
type StackName = 'main' | 'extras' | 'toolboxOnly'

/** What the runner received, reduced to what admission decides. */
interface Forwarded {
  readonly sandboxId: string | null
  readonly toolbox: boolean
  readonly port: string | null
  /** Path and query after `/sandboxes/{id}/toolbox[/proxy/{port}]`, raw. */
  readonly rest: string
  readonly authorization: string | null
  readonly previewToken: string | null
  readonly cookies: readonly string[]
  /** `X-Daytona-Authorization: Bearer {runner key}` was set. */
  readonly runnerKey: boolean
}

type Decision =
  | { readonly kind: 'admitted'; readonly forwarded: readonly Forwarded[] }
  | { readonly kind: 'refused'; readonly status: number; readonly code: string; readonly retryAfter: string | null; readonly runnerSaw: number }
  /** A gateway answer that is no error (warning page, login redirect); `location` without its query. */
  | { readonly kind: 'answered'; readonly status: number; readonly contentType: string; readonly location: string | null; readonly runnerSaw: number }

/** The request as it goes on the wire (the same bytes in both modes, plus the upgrade headers). */
interface Wire {
  /** null: no Host header; several: that many Host headers. */
  readonly host: string | readonly string[] | null
  readonly target: string
  readonly headers?: ReadonlyArray<readonly [string, string]>
}

interface Prepared {
  readonly wire: Wire
  readonly expect: Decision
  /** Must appear in no gateway-generated answer. */
  readonly secrets?: Readonly<Record<string, string>>
  /** Send while the gateway is held stopped (overload). */
  readonly whileStopped?: boolean
  /** Further state the decision leaves behind (e.g. start calls), compared like the decision. */
  readonly after?: { readonly observe: () => Promise<unknown>; readonly expect: unknown }
  readonly cleanup?: () => Promise<void>
}

interface Row {
  readonly name: string
  readonly stack: StackName
  /** SPEC says only one of the two can see this case. */
  readonly only?: { readonly mode: Mode; readonly reason: string }
  /** Differs today though SPEC does not say it should: the assertion stays, the row is todo. */
  readonly todo?: string
  prepare(s: Stack, mode: Mode): Promise<Prepared>
}

// ---- expectations ------------------------------------------------------------------------------

function forwarded(sandboxId: string, where: number | 'toolbox', rest: string, o: { authorization?: string; cookies?: readonly string[] } = {}): Forwarded {
  return {
    sandboxId,
    toolbox: where === 'toolbox',
    port: where === 'toolbox' ? null : String(where),
    rest,
    authorization: o.authorization ?? null,
    previewToken: null,
    cookies: o.cookies ?? [],
    runnerKey: true,
  }
}

function admitted(sandboxId: string, where: number | 'toolbox', rest: string, o: { authorization?: string; cookies?: readonly string[] } = {}): Decision {
  return { kind: 'admitted', forwarded: [forwarded(sandboxId, where, rest, o)] }
}

function refused(status: number, code: string, retryAfter: string | null = null): Decision {
  return { kind: 'refused', status, code, retryAfter, runnerSaw: 0 }
}

// ---- wire --------------------------------------------------------------------------------------

function has(headers: ReadonlyArray<readonly [string, string]>, name: string): boolean {
  return headers.some(([k]) => k.toLowerCase() === name)
}

/** Identical bytes for both modes; the upgrade adds only the WebSocket handshake headers. */
function encode(w: Wire, mode: Mode): string {
  const extra = w.headers ?? []
  let out = `GET ${w.target} HTTP/1.1\r\n`
  const hosts = w.host === null ? [] : typeof w.host === 'string' ? [w.host] : w.host
  for (const h of hosts) out += `Host: ${h}\r\n`
  if (!has(extra, 'accept')) out += 'Accept: */*\r\n'
  if (!has(extra, 'user-agent')) out += 'User-Agent: admission-parity-test/1\r\n'
  for (const [k, v] of extra) out += `${k}: ${v}\r\n`
  if (mode === 'upgrade') out += `Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${WS_KEY}\r\n`
  return out + '\r\n'
}

function one(v: string | string[] | undefined): string | null {
  if (v === undefined) return null
  return Array.isArray(v) ? v.join(', ') : v
}

function describeForward(r: RunnerRequest): Forwarded {
  const h = r.headers
  return {
    sandboxId: r.sandboxId,
    toolbox: r.toolbox,
    port: r.port,
    rest: r.rest,
    authorization: one(h.authorization),
    previewToken: one(h['x-daytona-preview-token']),
    cookies: cookiePairs(one(h.cookie) ?? undefined),
    runnerKey: h['x-daytona-authorization'] === `Bearer ${RUNNER_KEY}`,
  }
}

/** Resolves after `ms`: only used to hold the gateway stopped (see STOPPED_MS). */
function holdFor(ms: number): Promise<void> {
  return new Promise<void>((resolve) => { setTimeout(resolve, ms) })
}

/**
 * Writes the request. Stopped: the connection is made and written while the gateway is SIGSTOPped
 * (the kernel accepts it), so the gateway's first look at it comes after its lag sampler has run.
 */
async function deliver(s: Stack, bytes: string, whileStopped: boolean): Promise<RawConnection> {
  if (!whileStopped) {
    const c = await RawConnection.open(s.gw.port)
    await c.write(bytes)
    return c
  }
  process.kill(s.gw.pid, 'SIGSTOP')
  try {
    const c = await RawConnection.open(s.gw.port)
    await c.write(bytes)
    await holdFor(STOPPED_MS)
    return c
  } finally {
    process.kill(s.gw.pid, 'SIGCONT')
  }
}

interface Exchange {
  readonly decision: Decision
  readonly response: RawResponse
  readonly runnerRequests: readonly RunnerRequest[]
}

async function exchange(s: Stack, p: Prepared, mode: Mode): Promise<Exchange> {
  const mark = s.runner.requests().length
  const conn = await deliver(s, encode(p.wire, mode), p.whileStopped === true)
  let response: RawResponse
  try {
    response = await conn.response(ANSWER_TIMEOUT_MS)
  } finally {
    conn.destroy()
  }
  const runnerRequests = s.runner.requests().slice(mark)
  const code = response.headers['x-preview-error']
  let decision: Decision
  if (code !== undefined) {
    decision = { kind: 'refused', status: response.status, code, retryAfter: response.headers['retry-after'] ?? null, runnerSaw: runnerRequests.length }
  } else if (runnerRequests.length > 0) {
    decision = { kind: 'admitted', forwarded: runnerRequests.map(describeForward) }
  } else {
    const location = response.headers.location
    decision = {
      kind: 'answered',
      status: response.status,
      contentType: (response.headers['content-type'] ?? '').split(';')[0] ?? '',
      location: location === undefined ? null : (location.split('?')[0] ?? ''),
      runnerSaw: 0,
    }
  }
  // Retry-After compared by presence where SPEC fixes no value.
  if (decision.kind === 'refused' && p.expect.kind === 'refused' && p.expect.retryAfter === PRESENT && decision.retryAfter !== null) {
    decision = { ...decision, retryAfter: PRESENT }
  }
  return { decision, response, runnerRequests }
}

/** Checks beyond the decision: the SPEC §7 shape of refusals, no secret in them, the transport. */
function assertAnswerShape(mode: Mode, x: Exchange, p: Prepared): void {
  const where = `${mode} answer`
  if (x.decision.kind === 'refused') {
    assertGatewayError(x.response, x.decision.status, x.decision.code)
    assertNoSecrets(x.response.raw.toString('latin1'), { runnerKey: RUNNER_KEY, ...(p.secrets ?? {}) }, where)
  }
  if (x.decision.kind === 'admitted') {
    for (const r of x.runnerRequests) assert.equal(r.kind, mode === 'upgrade' ? 'ws' : 'http', `${where}: reached the runner as ${mode === 'upgrade' ? 'a WebSocket' : 'plain HTTP'}`)
    if (mode === 'upgrade') assert.equal(x.response.status, 101, `${where}: the runner's 101 came through`)
  }
}

function summary(d: Decision | undefined): string {
  if (d === undefined) return '-'
  if (d.kind === 'refused') return `${d.status} ${d.code}${d.retryAfter === null ? '' : ` (Retry-After ${d.retryAfter})`}${d.runnerSaw > 0 ? ` runner saw ${d.runnerSaw}` : ''}`
  if (d.kind === 'answered') return `${d.status} ${d.contentType}${d.location === null ? '' : ` → ${d.location}`}`
  return `admitted ${d.forwarded.map((f) => `${f.toolbox ? 'toolbox' : f.port}${f.rest}`).join(' + ')}`
}

// ---- the table ---------------------------------------------------------------------------------

const tok = (h: SandboxHandle): Array<[string, string]> => [['X-Daytona-Preview-Token', h.token]]
const bearer = (b: string): Array<[string, string]> => [['Authorization', `Bearer ${b}`]]
const secretsOf = (h: SandboxHandle): Record<string, string> => ({ token: h.token, bearer: h.bearer })

async function deadRunner(): Promise<RunnerInfo> {
  const port = await freePort()
  return { id: newId('dead'), proxyUrl: `http://127.0.0.1:${port}`, apiUrl: `http://127.0.0.1:${port}`, apiKey: DEAD_RUNNER_KEY }
}

/** A private sandbox set up by `init`, reached with its preview token. */
function tokenRow(name: string, stack: StackName, init: () => Promise<SandboxInit> | SandboxInit, expect: Decision): Row {
  return {
    name,
    stack,
    async prepare(s) {
      const sbx = s.sandbox(await init())
      return { wire: { host: s.host(3000, sbx.id), target: '/app?x=1', headers: tok(sbx) }, expect, secrets: { ...secretsOf(sbx), deadRunnerKey: DEAD_RUNNER_KEY } }
    },
  }
}

function sign(key: string, path: string, expires: number): string {
  return 'v1_' + createHmac('sha256', key).update(`v1:files:GET:${path}:${expires}`).digest('base64url')
}

/** Mints a session the SPEC §3 step 5 way: a cookieless request on a signed-token host. */
async function mintSession(s: Stack, sbx: SandboxHandle, port: number): Promise<{ token: string; cookie: string }> {
  const token = newToken('sgn')
  s.cp.addSignedToken(token, { sandboxId: sbx.id, port })
  const r = await s.send(s.host(port, token), '/mint')
  assert.equal(r.status, 200, `minting a session on a signed-token host: ${r.text.slice(0, 200)}`)
  const c = parseSetCookies(r.headers).find((x) => x.name === `daytona-sandbox-auth-${token}`)
  assert.ok(c !== undefined, 'a session cookie was minted on the signed-token host')
  return { token, cookie: `${c.name}=${c.value}` }
}

/** Where a browser on `current` goes with this redirect. */
function follow(r: Reply, current: string): URL {
  assert.ok(r.status >= 300 && r.status < 400 && typeof r.headers.location === 'string', `a redirect from ${current}, got ${r.status} ${r.text.slice(0, 200)}`)
  return new URL(r.headers.location, current)
}

function cookiesOf(r: Reply): string {
  return (r.headers['set-cookie'] ?? []).map((c) => c.split(';')[0]).join('; ')
}

/**
 * A session on the sandbox-id host, the only way SPEC mints one there: the browser OIDC login
 * (SPEC §4) against the fake issuer, followed hop by hop. Returns `daytona-sandbox-auth-{id}=…`.
 */
async function loginSession(s: Stack, issuer: FakeOidcIssuer, host: string, id: string): Promise<string> {
  const start = await s.send(host, '/login-me', { headers: NAVIGATE })
  const toLogin = follow(start, `http://${host}/login-me`)
  const login = await s.send(toLogin.host, toLogin.pathname + toLogin.search, { headers: NAVIGATE })
  const toIssuer = follow(login, toLogin.href)
  const authorize = await request({ port: issuer.port, host: toIssuer.host, path: toIssuer.pathname + toIssuer.search, headers: NAVIGATE })
  const toCallback = follow(authorize, toIssuer.href)
  const callback = await s.send(toCallback.host, toCallback.pathname + toCallback.search, { headers: { ...NAVIGATE, cookie: cookiesOf(login) } })
  const toPreview = follow(callback, toCallback.href)
  const redeem = await s.send(host, toPreview.pathname + toPreview.search, { headers: NAVIGATE })
  const c = parseSetCookies(redeem.headers).find((x) => x.name === `daytona-sandbox-auth-${id}`)
  assert.ok(c !== undefined, `the login ended with a session on the id host (got ${JSON.stringify(redeem.headers['set-cookie'] ?? [])})`)
  return `${c.name}=${c.value}`
}

/** The OIDC issuer of the main stack (its access token is what `/preview/{id}/access` accepts). */
let issuer: FakeOidcIssuer | undefined

const ROWS: readonly Row[] = [
  // -- every credential kind of SPEC §3 that admits --
  {
    name: 'public sandbox, no credential',
    stack: 'main',
    async prepare(s) {
      const sbx = s.sandbox({ public: true })
      return { wire: { host: s.host(3000, sbx.id), target: '/app/page?x=1&y=%2F' }, expect: admitted(sbx.id, 3000, '/app/page?x=1&y=%2F') }
    },
  },
  {
    name: 'public sandbox, non-reserved port: Authorization is not examined and reaches the app untouched',
    stack: 'main',
    async prepare(s) {
      const sbx = s.sandbox({ public: true })
      return { wire: { host: s.host(3000, sbx.id), target: '/api', headers: bearer('app-own-token') }, expect: admitted(sbx.id, 3000, '/api', { authorization: 'Bearer app-own-token' }) }
    },
  },
  {
    name: 'X-Daytona-Preview-Token header',
    stack: 'main',
    async prepare(s) {
      const sbx = s.sandbox()
      return { wire: { host: s.host(3000, sbx.id), target: '/ws', headers: tok(sbx) }, expect: admitted(sbx.id, 3000, '/ws') }
    },
  },
  {
    name: 'Authorization: Bearer (user token judged by /access)',
    stack: 'main',
    async prepare(s) {
      const sbx = s.sandbox()
      return { wire: { host: s.host(3000, sbx.id), target: '/ws', headers: bearer(sbx.bearer) }, expect: admitted(sbx.id, 3000, '/ws') }
    },
  },
  {
    name: `${KEY} query parameter: removed, the rest of the query byte for byte`,
    stack: 'main',
    async prepare(s) {
      const sbx = s.sandbox()
      return { wire: { host: s.host(3000, sbx.id), target: `/ws/%2Fa?x=1&${KEY}=${sbx.token}&y=a%26b` }, expect: admitted(sbx.id, 3000, '/ws/%2Fa?x=1&y=a%26b') }
    },
  },
  {
    name: 'session cookie of a signed-token host (minted by step 5); the app\'s own cookies pass',
    stack: 'main',
    async prepare(s) {
      const sbx = s.sandbox()
      const sess = await mintSession(s, sbx, 3000)
      return {
        wire: { host: s.host(3000, sess.token), target: '/ws', headers: [['Cookie', `app=1; ${sess.cookie}; theme=dark`]] },
        expect: admitted(sbx.id, 3000, '/ws', { cookies: ['app=1', 'theme=dark'] }),
        secrets: { session: sess.cookie },
      }
    },
  },
  {
    name: 'session cookie of the sandbox-id host (minted by the OIDC login): the only credential sent',
    stack: 'main',
    async prepare(s) {
      assert.ok(issuer !== undefined, 'the OIDC issuer runs')
      const sbx = s.sandbox({ bearers: [issuer.accessToken] })
      const host = s.host(3000, sbx.id)
      const session = await loginSession(s, issuer, host, sbx.id)
      return {
        wire: { host, target: '/ws?z=%20q', headers: [['Cookie', `app=1; ${session}; theme=dark`]] },
        expect: admitted(sbx.id, 3000, '/ws?z=%20q', { cookies: ['app=1', 'theme=dark'] }),
        secrets: { session, accessToken: issuer.accessToken },
      }
    },
  },
  {
    name: 'signed-token label, no cookie (SPEC §3 step 5)',
    stack: 'main',
    async prepare(s) {
      const sbx = s.sandbox()
      const signed = newToken('sgn')
      s.cp.addSignedToken(signed, { sandboxId: sbx.id, port: 3000 })
      return { wire: { host: s.host(3000, signed), target: '/ws?a=1' }, expect: admitted(sbx.id, 3000, '/ws?a=1') }
    },
  },
  {
    name: 'reserved port 22222 with the header token, no Origin',
    stack: 'main',
    async prepare(s) {
      const sbx = s.sandbox()
      return { wire: { host: s.host(22222, sbx.id), target: '/term', headers: tok(sbx) }, expect: admitted(sbx.id, 22222, '/term') }
    },
  },
  {
    name: 'base-domain toolbox route with the user\'s bearer',
    stack: 'main',
    async prepare(s) {
      const sbx = s.sandbox()
      return { wire: { host: DOMAIN, target: `/toolbox/${sbx.id}/process/session?x=1`, headers: bearer(sbx.bearer) }, expect: admitted(sbx.id, 'toolbox', '/process/session?x=1') }
    },
  },
  {
    name: 'signed toolbox file URL (SPEC §10): authorized by the signature alone; signature and expires cut',
    stack: 'main',
    async prepare(s) {
      const sbx = s.sandbox()
      s.runner.files.set('/f.txt', Buffer.from('parity'))
      const target = `/toolbox/${sbx.id}/files/download?path=%2Ff.txt&expires=0&signature=${sign(sbx.state.signingKey, '/f.txt', 0)}`
      return { wire: { host: DOMAIN, target }, expect: admitted(sbx.id, 'toolbox', '/files/download?path=%2Ff.txt') }
    },
  },

  // -- SPEC §1 / §6 request shape --
  {
    name: 'two Host headers',
    stack: 'main',
    async prepare(s) {
      const a = s.sandbox({ public: true })
      const b = s.sandbox({ public: true })
      return { wire: { host: [s.host(3000, a.id), s.host(3000, b.id)], target: '/' }, expect: refused(400, 'BAD_REQUEST') }
    },
  },
  {
    name: 'no Host header (RFC 9112 §3.2)',
    stack: 'main',
    async prepare() {
      return { wire: { host: null, target: '/' }, expect: refused(400, 'BAD_REQUEST') }
    },
  },
  {
    name: 'absolute-form target whose authority differs from Host',
    stack: 'main',
    async prepare(s) {
      const checked = s.sandbox({ public: true })
      const other = s.sandbox({ public: true })
      return { wire: { host: s.host(3000, checked.id), target: `http://${s.host(3000, other.id)}/x` }, expect: refused(400, 'BAD_REQUEST') }
    },
  },
  {
    name: 'malformed host: a character outside [A-Za-z0-9_-] in the id',
    stack: 'main',
    async prepare(s) {
      return { wire: { host: `3000-bad!id.${DOMAIN}`, target: '/' }, expect: refused(404, 'INVALID_HOST') }
    },
  },
  {
    name: 'port outside 1–65535',
    stack: 'main',
    async prepare(s) {
      const sbx = s.sandbox({ public: true })
      return { wire: { host: s.host(70000, sbx.id), target: '/' }, expect: refused(404, 'INVALID_HOST') }
    },
  },
  {
    name: 'host outside PROXY_DOMAIN',
    stack: 'main',
    async prepare() {
      const id = newId()
      return { wire: { host: `3000-${id}.elsewhere.test`, target: '/' }, expect: refused(404, 'INVALID_HOST') }
    },
  },
  {
    name: 'percent-encoded dot segment on a preview',
    stack: 'main',
    async prepare(s) {
      const sbx = s.sandbox()
      return { wire: { host: s.host(3000, sbx.id), target: '/a/%2e%2e/b', headers: tok(sbx) }, expect: refused(400, 'BAD_REQUEST'), secrets: secretsOf(sbx) }
    },
  },
  {
    name: 'dot segment on the toolbox route',
    stack: 'main',
    async prepare(s) {
      const sbx = s.sandbox()
      return { wire: { host: DOMAIN, target: `/toolbox/${sbx.id}/a/../b`, headers: bearer(sbx.bearer) }, expect: refused(400, 'BAD_REQUEST'), secrets: secretsOf(sbx) }
    },
  },
  {
    name: 'unknown base-domain path',
    stack: 'main',
    async prepare() {
      return { wire: { host: DOMAIN, target: '/metrics' }, expect: refused(404, 'NOT_FOUND') }
    },
  },
  {
    name: 'toolbox route without an id',
    stack: 'main',
    async prepare() {
      return { wire: { host: DOMAIN, target: '/toolbox/' }, expect: refused(404, 'NOT_FOUND') }
    },
  },
  {
    name: `login ticket parameter (${TICKET}) that is not a valid ticket, with a valid token`,
    stack: 'main',
    async prepare(s) {
      const sbx = s.sandbox()
      return { wire: { host: s.host(3000, sbx.id), target: `/ws?${TICKET}=not-a-ticket&x=1`, headers: tok(sbx) }, expect: refused(400, 'LOGIN_FAILED'), secrets: secretsOf(sbx) }
    },
  },

  // -- SPEC §3 refusals --
  {
    name: 'private sandbox, no credential',
    stack: 'main',
    async prepare(s) {
      const sbx = s.sandbox()
      return { wire: { host: s.host(3000, sbx.id), target: '/ws' }, expect: refused(401, 'UNAUTHORIZED') }
    },
  },
  {
    name: 'private sandbox, no credential, browser navigation (OIDC configured): redirected to the login',
    stack: 'main',
    only: { mode: 'request', reason: 'SPEC §3 step 6: only a navigation is redirected to the login; a WebSocket upgrade never is' },
    async prepare(s) {
      const sbx = s.sandbox()
      return { wire: { host: s.host(3000, sbx.id), target: '/page', headers: Object.entries(NAVIGATE) }, expect: { kind: 'answered', status: 302, contentType: '', location: `http://${DOMAIN}/login`, runnerSaw: 0 } }
    },
  },
  {
    name: 'private sandbox, no credential, upgrade from a browser page (Mozilla UA, Accept text/html, Sec-Fetch-Mode websocket)',
    stack: 'main',
    only: { mode: 'upgrade', reason: 'SPEC §3 step 6: a WebSocket upgrade is never answered with a redirect, even from a browser' },
    async prepare(s) {
      const sbx = s.sandbox()
      return { wire: { host: s.host(3000, sbx.id), target: '/ws', headers: [['User-Agent', BROWSER_UA], ['Accept', 'text/html'], ['Sec-Fetch-Mode', 'websocket'], ['Origin', `http://${s.host(3000, sbx.id)}`]] }, expect: refused(401, 'UNAUTHORIZED') }
    },
  },
  {
    name: 'wrong preview token',
    stack: 'main',
    async prepare(s) {
      const sbx = s.sandbox()
      return { wire: { host: s.host(3000, sbx.id), target: '/ws', headers: [['X-Daytona-Preview-Token', 'wrong-token-3c1d']] }, expect: refused(401, 'UNAUTHORIZED'), secrets: { wrong: 'wrong-token-3c1d' } }
    },
  },
  {
    name: 'bearer refused by /access',
    stack: 'main',
    async prepare(s) {
      const sbx = s.sandbox()
      const other = s.sandbox()
      return { wire: { host: s.host(3000, sbx.id), target: '/ws', headers: bearer(other.bearer) }, expect: refused(401, 'UNAUTHORIZED'), secrets: secretsOf(other) }
    },
  },
  {
    name: 'revoked signed-token label (non-navigation: 401, not INVALID_LINK)',
    stack: 'main',
    async prepare(s) {
      const sbx = s.sandbox()
      const signed = newToken('sgn')
      s.cp.addSignedToken(signed, { sandboxId: sbx.id, port: 3000, revoked: true })
      return { wire: { host: s.host(3000, signed), target: '/ws' }, expect: refused(401, 'UNAUTHORIZED') }
    },
  },
  {
    name: 'public sandbox, reserved port 22222, no credential',
    stack: 'main',
    async prepare(s) {
      const sbx = s.sandbox({ public: true })
      return { wire: { host: s.host(22222, sbx.id), target: '/term' }, expect: refused(401, 'UNAUTHORIZED') }
    },
  },
  {
    name: 'toolbox route, no credential',
    stack: 'main',
    async prepare(s) {
      const sbx = s.sandbox()
      return { wire: { host: DOMAIN, target: `/toolbox/${sbx.id}/process/session` }, expect: refused(401, 'UNAUTHORIZED') }
    },
  },
  {
    name: 'toolbox route, a bearer, the sandbox does not exist (SPEC §10 SANDBOX_NOT_FOUND)',
    stack: 'main',
    async prepare(s) {
      const user = newToken('ub')
      return { wire: { host: DOMAIN, target: `/toolbox/${newId('gone')}/process/session`, headers: bearer(user) }, expect: refused(404, 'SANDBOX_NOT_FOUND'), secrets: { bearer: user } }
    },
  },
  {
    name: 'reserved port 22222, header token, cross-site Origin',
    stack: 'main',
    only: { mode: 'upgrade', reason: 'SPEC §6: the cross-site WebSocket Origin rule applies to upgrades only (requests get CORS)' },
    async prepare(s) {
      const sbx = s.sandbox()
      return { wire: { host: s.host(22222, sbx.id), target: '/term', headers: [...tok(sbx), ['Origin', 'https://evil.example']] }, expect: refused(403, 'FORBIDDEN'), secrets: secretsOf(sbx) }
    },
  },

  // -- control plane, runner, sandbox state (SPEC §2, §6, §10) --
  {
    name: 'control plane down (connection reset on every call for the sandbox)',
    stack: 'main',
    async prepare(s) {
      const sbx = s.sandbox()
      s.cp.script(`/preview/${sbx.id}/validate/${sbx.token}`, [{ reset: true }], { repeatLast: true })
      s.cp.script(`/runners/by-sandbox/${sbx.id}`, [{ reset: true }], { repeatLast: true })
      return { wire: { host: s.host(3000, sbx.id), target: '/ws', headers: tok(sbx) }, expect: refused(503, 'CONTROL_PLANE_UNAVAILABLE', '5'), secrets: secretsOf(sbx) }
    },
  },
  {
    name: 'runner lookup fails (500 on /runners/by-sandbox)',
    stack: 'main',
    async prepare(s) {
      const sbx = s.sandbox()
      s.cp.script(`/runners/by-sandbox/${sbx.id}`, [{ status: 500 }], { repeatLast: true })
      return { wire: { host: s.host(3000, sbx.id), target: '/ws', headers: tok(sbx) }, expect: refused(502, 'CONTROL_PLANE_UNAVAILABLE'), secrets: secretsOf(sbx) }
    },
  },
  tokenRow('no runner, the platform says started', 'main', () => ({ runner: null }), refused(503, 'SANDBOX_NOT_STARTED', PRESENT)),
  tokenRow('no runner, stopped (wake off)', 'main', () => ({ runner: null, state: 'stopped' }), refused(503, 'SANDBOX_STOPPED', PRESENT)),
  tokenRow('no runner, error state', 'main', () => ({ runner: null, state: 'error' }), refused(502, 'SANDBOX_ERROR')),
  tokenRow('no runner, destroyed', 'main', () => ({ runner: null, state: 'destroyed' }), refused(404, 'SANDBOX_NOT_FOUND')),
  tokenRow('runner refuses connections', 'main', async () => ({ runner: await deadRunner() }), refused(502, 'UPSTREAM_UNREACHABLE')),
  tokenRow('runner refuses connections, the platform says stopped (wake off)', 'main', async () => ({ runner: await deadRunner(), state: 'stopped' }), refused(503, 'SANDBOX_STOPPED', PRESENT)),

  // -- WAKE_ON_REQUEST, PREVIEW_WARNING_ENABLED, MAX_CONNECTIONS_PER_SANDBOX=1, OVERLOAD_LAG_MS=500 --
  {
    name: 'wake on visit: a stopped sandbox is started once and answered 503 SANDBOX_STARTING',
    stack: 'extras',
    async prepare(s) {
      const sbx = s.sandbox({ runner: null, state: 'stopped' })
      return {
        wire: { host: s.host(3000, sbx.id), target: '/ws', headers: tok(sbx) },
        expect: refused(503, 'SANDBOX_STARTING', PRESENT),
        secrets: secretsOf(sbx),
        after: {
          observe: () => waitUntil(() => s.cp.startCalls(sbx.id) > 0 && s.cp.startCalls(sbx.id), { timeoutMs: 5000, message: 'a start call' }),
          expect: 1,
        },
      }
    },
  },
  {
    name: 'warning page enabled for the sandbox, non-navigation client: no page',
    stack: 'extras',
    async prepare(s) {
      const sbx = s.sandbox({ previewWarning: true })
      return { wire: { host: s.host(3000, sbx.id), target: '/ws', headers: tok(sbx) }, expect: admitted(sbx.id, 3000, '/ws') }
    },
  },
  {
    name: 'warning page enabled, browser navigation: the interstitial in place',
    stack: 'extras',
    only: { mode: 'request', reason: 'SPEC §6: the warning page is shown to navigations only, never to WebSockets' },
    async prepare(s) {
      const sbx = s.sandbox({ previewWarning: true })
      return {
        wire: { host: s.host(3000, sbx.id), target: '/', headers: [...tok(sbx), ...Object.entries(NAVIGATE)] },
        expect: { kind: 'answered', status: 200, contentType: 'text/html', location: null, runnerSaw: 0 },
      }
    },
  },
  {
    name: 'warning page enabled, upgrade from a browser (Mozilla UA, Accept text/html)',
    stack: 'extras',
    only: { mode: 'upgrade', reason: 'SPEC §6: never a warning page for WebSockets (a Connection list holding upgrade)' },
    async prepare(s) {
      const sbx = s.sandbox({ previewWarning: true })
      return {
        wire: { host: s.host(3000, sbx.id), target: '/ws', headers: [...tok(sbx), ['User-Agent', BROWSER_UA], ['Accept', 'text/html']] },
        expect: admitted(sbx.id, 3000, '/ws'),
      }
    },
  },
  {
    name: 'per-sandbox connection limit reached (limit 1, one WebSocket held open)',
    stack: 'extras',
    async prepare(s) {
      const sbx = s.sandbox()
      const held = await openWs({ port: s.gw.port, host: s.host(3000, sbx.id), path: '/held', headers: { 'X-Daytona-Preview-Token': sbx.token } })
      assert.equal(held.kind, 'open', 'the WebSocket that holds the one slot opened')
      return {
        wire: { host: s.host(3000, sbx.id), target: '/ws', headers: tok(sbx) },
        expect: refused(429, 'TOO_MANY_CONNECTIONS', PRESENT),
        secrets: secretsOf(sbx),
        cleanup: async () => { if (held.kind === 'open') await closeWs(held.ws) },
      }
    },
  },
  {
    name: 'overload shedding: the event loop lagged (gateway held SIGSTOPped while the request waits)',
    stack: 'extras',
    async prepare(s) {
      const sbx = s.sandbox()
      const probe = s.sandbox({ public: true })
      return {
        wire: { host: s.host(3000, sbx.id), target: '/ws', headers: tok(sbx) },
        expect: refused(503, 'OVERLOADED', PRESENT),
        secrets: secretsOf(sbx),
        whileStopped: true,
        // The lag decays within a second: wait for it so the next case is not shed.
        cleanup: async () => {
          await waitUntil(async () => (await s.send(s.host(3000, probe.id), '/probe')).status === 200, { timeoutMs: 10_000, intervalMs: 100, message: 'the gateway serves again after the lag' })
        },
      }
    },
  },

  // -- TOOLBOX_ONLY_MODE=true --
  {
    name: 'toolbox-only mode: a port other than 2280',
    stack: 'toolboxOnly',
    async prepare(s) {
      const sbx = s.sandbox()
      return { wire: { host: s.host(3000, sbx.id), target: '/ws', headers: tok(sbx) }, expect: refused(404, 'NOT_FOUND'), secrets: secretsOf(sbx) }
    },
  },
  {
    name: 'toolbox-only mode: port 2280 with the header token',
    stack: 'toolboxOnly',
    async prepare(s) {
      const sbx = s.sandbox()
      return { wire: { host: s.host(2280, sbx.id), target: '/process', headers: tok(sbx) }, expect: admitted(sbx.id, 2280, '/process') }
    },
  },
]

// ---- running it --------------------------------------------------------------------------------

describe('issue 12: one admission path — every case decided the same for a request and an upgrade', { timeout: 600_000 }, () => {
  const stacks: Partial<Record<StackName, Stack>> = {}

  before(async () => {
    issuer = await FakeOidcIssuer.start()
    const [main, extras, toolboxOnly] = await Promise.all([
      startStack({ OIDC_DOMAIN: issuer.issuer, OIDC_CLIENT_ID: issuer.clientId, OIDC_CLIENT_SECRET: issuer.clientSecret ?? '' }),
      startStack({ WAKE_ON_REQUEST: 'true', PREVIEW_WARNING_ENABLED: 'true', MAX_CONNECTIONS_PER_SANDBOX: '1', OVERLOAD_LAG_MS: '500' }),
      startStack({ TOOLBOX_ONLY_MODE: 'true' }),
    ])
    stacks.main = main
    stacks.extras = extras
    stacks.toolboxOnly = toolboxOnly
  }, { timeout: 60_000 })

  after(async () => {
    await Promise.all(Object.values(stacks).map((s) => s.close()))
    await issuer?.close()
  })

  for (const row of ROWS) {
    const modes: readonly Mode[] = row.only === undefined ? ['request', 'upgrade'] : [row.only.mode]
    const title = row.only === undefined ? row.name : `${row.name} [${row.only.mode} only — ${row.only.reason}]`
    test(title, { timeout: ROW_TIMEOUT_MS, ...(row.todo === undefined ? {} : { todo: row.todo }) }, async (t) => {
      const s = stacks[row.stack]
      assert.ok(s !== undefined, `stack ${row.stack} started`)
      const observed: Partial<Record<Mode, Decision & { after?: unknown }>> = {}
      const expected: Partial<Record<Mode, Decision & { after?: unknown }>> = {}
      const checks: Array<() => void> = []
      for (const mode of modes) {
        const p = await row.prepare(s, mode)
        try {
          const x = await exchange(s, p, mode)
          observed[mode] = p.after === undefined ? x.decision : { ...x.decision, after: await p.after.observe().catch((e: unknown) => String(e)) }
          expected[mode] = p.after === undefined ? p.expect : { ...p.expect, after: p.after.expect }
          checks.push(() => assertAnswerShape(mode, x, p))
        } finally {
          await p.cleanup?.()
        }
      }
      t.diagnostic(modes.map((m) => `${m}: ${summary(observed[m])}`).join(' | '))
      assert.deepEqual(observed, expected, 'the request and the upgrade reach the decision SPEC asks for')
      for (const check of checks) check()
    })
  }
})
