/**
 * SPEC §7 — gateway errors: each code with its status, the `X-Preview-Error` header, the JSON body
 * `{"statusCode","error","code","message","source":"DAYTONA_PROXY"}`, `Cache-Control: no-store`,
 * an HTML page for navigations, the app's own errors passed untouched, and no secrets (tokens,
 * runner keys, runner URLs, whole hosts) in any body, header or log line.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { startStack } from '../helpers/stack.js'
import type { SandboxHandle, Stack } from '../helpers/stack.js'
import { assertGatewayError, assertNoSecrets, echoOf, parseSetCookies } from '../helpers/assertions.js'
import { rawExchange } from '../helpers/gateway.js'
import { freePort, newId, newToken } from '../helpers/http.js'
import type { Reply } from '../helpers/http.js'

const T = { timeout: 20_000 }
const API_KEY = 'pk-SECRET-7f3a9c51d2e84b06'
const RUNNER_KEY = 'rk-SECRET-91c2d7e3a4b5f608'
const NAV = { 'sec-fetch-mode': 'navigate', 'sec-fetch-dest': 'document', 'user-agent': 'Mozilla/5.0 (X11; Linux x86_64) Chrome/130.0', accept: 'text/html,application/xhtml+xml;q=0.9,*/*;q=0.8' }

describe('SPEC §7 errors (LOG_LEVEL=debug, UPSTREAM_TIMEOUT_SEC=1)', () => {
  let s: Stack
  let sbx: SandboxHandle
  let pub: SandboxHandle
  let deadSbx: SandboxHandle
  let deadPort = 0
  let signed = ''
  let sessionValue = ''
  /** Every secret the tests hand to the gateway, by what it is. */
  const secrets: Record<string, string> = {}

  before(async () => {
    s = await startStack({ LOG_LEVEL: 'debug', UPSTREAM_TIMEOUT_SEC: '1', API_CLIENT_TIMEOUT_SEC: '1' }, { apiKey: API_KEY, runnerKey: RUNNER_KEY })
    sbx = s.sandbox({ prefix: 'priv' })
    pub = s.sandbox({ public: true, prefix: 'pub' })
    deadPort = await freePort()
    deadSbx = s.sandbox({ public: true, prefix: 'dead', runner: { id: newId('dead'), proxyUrl: `http://127.0.0.1:${deadPort}`, apiUrl: `http://127.0.0.1:${deadPort}`, apiKey: 'rk-SECRET-dead-5e6f7a8b' } })
    signed = newToken('sgnSECRET')
    s.cp.addSignedToken(signed, { sandboxId: sbx.id, port: 3000 })
    Object.assign(secrets, {
      'PROXY_API_KEY': API_KEY,
      'runner API key': RUNNER_KEY,
      'dead runner API key': 'rk-SECRET-dead-5e6f7a8b',
      'preview token': sbx.token,
      'user bearer': sbx.bearer,
      'signed token': signed,
      'runner URL': s.runner.url,
      'dead runner URL': `http://127.0.0.1:${deadPort}`,
    })
  })
  after(async () => { await s?.close() })

  /** Headers and body of a gateway answer hold no secret. */
  function assertClean(r: Reply, where: string): void {
    assertNoSecrets(r.text, secrets, `${where} body`)
    assertNoSecrets(JSON.stringify(r.rawHeaders), secrets, `${where} headers`)
    assertNoSecrets(r.text, { 'runner address': `127.0.0.1:${s.runner.port}`, 'dead runner address': `127.0.0.1:${deadPort}` }, `${where} body`)
  }

  test('INVALID_HOST: 404', T, async () => {
    const r = await s.send(`3000-${sbx.id}.other.test`, '/')
    assertGatewayError(r, 404, 'INVALID_HOST')
    assertClean(r, 'INVALID_HOST')
  })

  test('NOT_FOUND: 404', T, async () => {
    const r = await s.send('preview.test', '/metrics')
    assertGatewayError(r, 404, 'NOT_FOUND')
    assertClean(r, 'NOT_FOUND')
  })

  test('UNAUTHORIZED: 401 (no credential, and a wrong one that is not echoed back)', T, async () => {
    assertClean(await s.send(s.host(3000, sbx.id), '/'), 'UNAUTHORIZED')
    const wrong = 'pt-SECRET-wrong-0a1b2c3d'
    secrets['wrong preview token'] = wrong
    const r = await s.send(s.host(3000, sbx.id), '/', { headers: { 'x-daytona-preview-token': wrong } })
    assertGatewayError(r, 401, 'UNAUTHORIZED')
    assertClean(r, 'UNAUTHORIZED')
  })

  test('BAD_REQUEST: 400 for a dot segment', T, async () => {
    const r = await s.send(s.host(3000, pub.id), '/a/../b')
    assertGatewayError(r, 400, 'BAD_REQUEST')
    assertClean(r, 'BAD_REQUEST')
  })

  test('UPSTREAM_UNREACHABLE: 502', T, async () => {
    const r = await s.send(s.host(3000, deadSbx.id), '/')
    assertGatewayError(r, 502, 'UPSTREAM_UNREACHABLE')
    assertClean(r, 'UPSTREAM_UNREACHABLE')
  })

  test('UPSTREAM_TIMEOUT: 504', T, async () => {
    const r = await s.send(s.host(3000, pub.id), '/hang')
    assertGatewayError(r, 504, 'UPSTREAM_TIMEOUT')
    assertClean(r, 'UPSTREAM_TIMEOUT')
  })

  test('CONTROL_PLANE_UNAVAILABLE: 502/503', T, async () => {
    const path = `/preview/${sbx.id}/validate/${sbx.token}`
    s.cp.script(path, [{ status: 500, body: { message: `internal: ${API_KEY}` } }], { repeatLast: true })
    const r = await s.send(s.host(3000, sbx.id), '/', { headers: { 'x-daytona-preview-token': sbx.token } })
    s.cp.clearScript(path)
    assertGatewayError(r, [502, 503], 'CONTROL_PLANE_UNAVAILABLE')
    assertClean(r, 'CONTROL_PLANE_UNAVAILABLE')
  })

  test('CONTROL_PLANE_UNAVAILABLE for a failed runner lookup', T, async () => {
    const other = s.sandbox({ public: true })
    s.cp.script(`/runners/by-sandbox/${other.id}`, [{ status: 500 }], { repeatLast: true })
    const r = await s.send(s.host(3000, other.id), '/')
    s.cp.clearScript(`/runners/by-sandbox/${other.id}`)
    assertGatewayError(r, [502, 503], 'CONTROL_PLANE_UNAVAILABLE')
  })

  test('FORBIDDEN: 403 for a reserved-port WebSocket with a foreign Origin (raw handshake)', T, async () => {
    const { response } = await rawExchange(s.gw.port, [
      'GET /term HTTP/1.1',
      `Host: ${s.host(22222, sbx.id)}`,
      'Connection: Upgrade',
      'Upgrade: websocket',
      'Sec-WebSocket-Version: 13',
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
      'Origin: https://evil.example',
      `X-Daytona-Preview-Token: ${sbx.token}`,
      '', '',
    ].join('\r\n'))
    assertGatewayError(response, 403, 'FORBIDDEN')
    assertNoSecrets(response.raw.toString('latin1'), secrets, 'FORBIDDEN answer')
  })

  test('navigations get a small HTML page with the same code header and no-store', T, async () => {
    const cases: ReadonlyArray<readonly [string, string, number, string]> = [
      [`3000-${sbx.id}.other.test`, '/', 404, 'INVALID_HOST'],
      [s.host(3000, pub.id), '/a/%2e%2e/b', 400, 'BAD_REQUEST'],
      [s.host(3000, deadSbx.id), '/', 502, 'UPSTREAM_UNREACHABLE'],
    ]
    for (const [host, path, status, code] of cases) {
      const r = await s.send(host, path, { headers: NAV })
      assert.equal(r.status, status, `${code}`)
      assert.match(r.headers['content-type'] ?? '', /^text\/html/, `${code} is HTML for a navigation`)
      assert.equal(r.headers['x-preview-error'], code)
      assert.match(r.headers['cache-control'] ?? '', /no-store/)
      assert.ok(r.body.length < 64 * 1024, 'a small page')
      assert.doesNotMatch(r.text, /\n\s+at .+:\d+:\d+/, 'no stack trace')
      assertClean(r, `${code} page`)
    }
  })

  test('the app\'s own errors pass untouched (no X-Preview-Error, body from the app)', T, async () => {
    for (const code of [500, 502, 401, 404]) {
      const r = await s.send(s.host(3000, pub.id), `/status?code=${code}`)
      assert.equal(r.status, code)
      assert.equal(r.headers['x-preview-error'], undefined)
      assert.equal(r.headers['x-app-error'], 'yes')
      assert.deepEqual(r.json(), { appError: true, code })
    }
  })

  test('successful flows with every kind of credential (exercised so the log check below sees them)', T, async () => {
    echoOf(await s.send(s.host(3000, sbx.id), '/', { headers: { 'x-daytona-preview-token': sbx.token } }))
    echoOf(await s.send(s.host(3000, sbx.id), '/', { headers: { authorization: `Bearer ${sbx.bearer}` } }))
    echoOf(await s.send(s.host(3000, sbx.id), `/?DAYTONA_SANDBOX_AUTH_KEY=${sbx.token}`))
    const minted = await s.send(s.host(3000, signed), '/')
    echoOf(minted)
    const c = parseSetCookies(minted.headers).find((x) => x.name === `daytona-sandbox-auth-${signed}`)
    assert.ok(c !== undefined, 'session minted on the signed-token host')
    sessionValue = c.value
    secrets['session cookie value'] = sessionValue
    echoOf(await s.send(s.host(3000, signed), '/', { headers: { cookie: `${c.name}=${c.value}` } }))
    assertGatewayError(await s.send(s.host(3000, sbx.id), '/', { headers: { authorization: 'Bearer ub-SECRET-refused-9d8c' } }), 401, 'UNAUTHORIZED')
    secrets['refused bearer'] = 'ub-SECRET-refused-9d8c'
  })

  describe('log lines', () => {
    test('hold no token, key or session value', T, () => {
      const out = s.gw.output()
      const { 'runner URL': _u, 'dead runner URL': _d, ...tokens } = secrets
      assertNoSecrets(out, tokens, 'gateway log')
    })

    test('hold no runner URL', T, () => {
      assertNoSecrets(s.gw.output(), { 'runner URL': secrets['runner URL'] ?? '', 'dead runner URL': secrets['dead runner URL'] ?? '' }, 'gateway log')
    })

    test('hold no runner address (host:port)', T, () => {
      assertNoSecrets(s.gw.output(), { 'runner address': `127.0.0.1:${s.runner.port}`, 'dead runner address': `127.0.0.1:${deadPort}` }, 'gateway log')
    })

    test('hold no whole preview host', T, () => {
      assertNoSecrets(s.gw.output(), {
        'id host': s.host(3000, sbx.id),
        'signed-token host': s.host(3000, signed),
        'public host': s.host(3000, pub.id),
        'foreign host': `3000-${sbx.id}.other.test`,
      }, 'gateway log')
    })
  })
})
