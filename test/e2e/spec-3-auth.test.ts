/**
 * SPEC §3 (steps 1–5 and the 401 of step 6) — public sandboxes and reserved ports, the order of
 * the methods (bearer → header token → query key → cookie → signed-token host), no later call
 * when an earlier method succeeded, fail-closed, session cookies (minting, binding to
 * label+sandbox+port, attributes over http), and stripping every credential before forwarding.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { startStack } from '../helpers/stack.js'
import type { SandboxHandle, Stack } from '../helpers/stack.js'
import { assertGatewayError, cookiePairs, echoHeader, echoOf, hasAttribute, attributeValue, parseSetCookies } from '../helpers/assertions.js'
import type { SetCookie } from '../helpers/assertions.js'
import { newToken, waitUntil } from '../helpers/http.js'
import type { Reply } from '../helpers/http.js'

const T = { timeout: 20_000 }
const KEY = 'DAYTONA_SANDBOX_AUTH_KEY'

function sessionCookie(reply: Reply, label: string): SetCookie {
  const c = parseSetCookies(reply.headers).find((x) => x.name === `daytona-sandbox-auth-${label}`)
  assert.ok(c !== undefined, `a daytona-sandbox-auth-${label} cookie was set (got: ${JSON.stringify(reply.headers['set-cookie'] ?? [])})`)
  assert.ok(c.value.length > 0, 'cookie has a value')
  return c
}

function assertCookieAttributesOverHttp(c: SetCookie): void {
  assert.ok(hasAttribute(c, 'HttpOnly'), `HttpOnly: ${c.raw}`)
  assert.equal(attributeValue(c, 'SameSite')?.toLowerCase(), 'lax', `SameSite=Lax over http: ${c.raw}`)
  assert.ok(!hasAttribute(c, 'Secure'), `no Secure over plain http: ${c.raw}`)
  assert.ok(!hasAttribute(c, 'Domain'), `host-only (no Domain): ${c.raw}`)
  assert.equal(attributeValue(c, 'Path'), '/', `Path=/: ${c.raw}`)
}

describe('SPEC §3 authentication', () => {
  let s: Stack
  before(async () => { s = await startStack() })
  after(async () => { await s?.close() })

  const tok = (h: SandboxHandle): Record<string, string> => ({ 'x-daytona-preview-token': h.token })

  interface TokenSession {
    /** The signed token (the host label). */
    readonly token: string
    /** `daytona-sandbox-auth-{token}=value` */
    readonly cookie: string
    readonly value: string
  }

  /**
   * Mints a session the way SPEC §3 step 5 does: a cookieless request on a signed-token host.
   * (SPEC mints sessions on token hosts and after OIDC login; the query key does not mint one.)
   */
  async function mintOnTokenHost(sbx: SandboxHandle, port = 3000): Promise<TokenSession> {
    const token = newToken('sgn')
    s.cp.addSignedToken(token, { sandboxId: sbx.id, port })
    const r = await s.send(s.host(port, token), '/')
    echoOf(r)
    const c = sessionCookie(r, token)
    return { token, cookie: `${c.name}=${c.value}`, value: c.value }
  }

  /** A signed token for the sandbox that the control plane refuses, so step 5 cannot rescue a bad cookie. */
  function refusedToken(sbx: SandboxHandle, port = 3000): string {
    const token = newToken('sgn')
    s.cp.addSignedToken(token, { sandboxId: sbx.id, port, revoked: true })
    return token
  }

  describe('public sandboxes and reserved ports', () => {
    test('a public sandbox is served without credentials and without any auth call', T, async () => {
      const sbx = s.sandbox({ public: true })
      echoOf(await s.send(s.host(3000, sbx.id), '/'))
      assert.equal(s.cp.calls(`/preview/${sbx.id}/validate`).length, 0)
      assert.equal(s.cp.calls(`/preview/${sbx.id}/access`).length, 0)
    })

    for (const port of [22222, 2280, 33333]) {
      test(`reserved port ${port} needs credentials even on a public sandbox`, T, async () => {
        const sbx = s.sandbox({ public: true })
        assertGatewayError(await s.send(s.host(port, sbx.id), '/'), 401, 'UNAUTHORIZED')
        assert.equal(s.runner.requests(sbx.id).length, 0)
        assert.equal(echoOf(await s.send(s.host(port, sbx.id), '/', { headers: tok(sbx) })).port, String(port))
      })
    }

    test('public, non-reserved port: Authorization is not examined and reaches the app untouched', T, async () => {
      const sbx = s.sandbox({ public: true })
      const echo = echoOf(await s.send(s.host(3000, sbx.id), '/', { headers: { authorization: 'Bearer app-own-token' } }))
      assert.deepEqual(echoHeader(echo, 'authorization'), ['Bearer app-own-token'])
      assert.equal(s.cp.calls(`/preview/${sbx.id}/access`).length, 0)
    })

    test('public, reserved port: the bearer is examined and removed', T, async () => {
      const sbx = s.sandbox({ public: true })
      const echo = echoOf(await s.send(s.host(2280, sbx.id), '/', { headers: { authorization: `Bearer ${sbx.bearer}` } }))
      assert.deepEqual(echoHeader(echo, 'authorization'), [])
      assert.equal(s.cp.calls(`/preview/${sbx.id}/access`).length, 1)
    })

    test('public: X-Daytona-Preview-Token and the query key are still removed', T, async () => {
      const sbx = s.sandbox({ public: true })
      const echo = echoOf(await s.send(s.host(3000, sbx.id), `/p?a=1&${KEY}=${sbx.token}`, { headers: tok(sbx) }))
      assert.deepEqual(echoHeader(echo, 'x-daytona-preview-token'), [])
      assert.equal(echo.rest, '/p?a=1')
    })
  })

  describe('each method on a private sandbox', () => {
    test('no credential → 401 UNAUTHORIZED JSON (API client)', T, async () => {
      const sbx = s.sandbox()
      assertGatewayError(await s.send(s.host(3000, sbx.id), '/'), 401, 'UNAUTHORIZED')
      assert.equal(s.runner.requests(sbx.id).length, 0)
    })

    test('no credential, browser fetch (Sec-Fetch-Mode: cors) → 401, never a redirect', T, async () => {
      const sbx = s.sandbox()
      const r = await s.send(s.host(3000, sbx.id), '/api', {
        headers: { 'user-agent': 'Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/130.0', accept: '*/*', 'sec-fetch-mode': 'cors', 'sec-fetch-dest': 'empty' },
      })
      assertGatewayError(r, 401, 'UNAUTHORIZED')
      assert.equal(r.headers.location, undefined)
    })

    test('1. Authorization: Bearer → /access with that token; no validate call; header removed', T, async () => {
      const sbx = s.sandbox()
      const echo = echoOf(await s.send(s.host(3000, sbx.id), '/', { headers: { authorization: `Bearer ${sbx.bearer}` } }))
      assert.deepEqual(echoHeader(echo, 'authorization'), [])
      assert.equal(s.cp.calls(`/preview/${sbx.id}/access`).length, 1)
      assert.equal(s.cp.calls(`/preview/${sbx.id}/validate`).length, 0)
    })

    test('1. a bearer refused by /access (403) → 401', T, async () => {
      const sbx = s.sandbox()
      assertGatewayError(await s.send(s.host(3000, sbx.id), '/', { headers: { authorization: 'Bearer not-a-user' } }), 401, 'UNAUTHORIZED')
    })

    test('2. X-Daytona-Preview-Token → /validate/{token}; no /access call; header removed', T, async () => {
      const sbx = s.sandbox()
      const echo = echoOf(await s.send(s.host(3000, sbx.id), '/', { headers: tok(sbx) }))
      assert.deepEqual(echoHeader(echo, 'x-daytona-preview-token'), [])
      assert.deepEqual(s.cp.calls(`/preview/${sbx.id}/validate`).map((c) => c.path), [`/preview/${sbx.id}/validate/${sbx.token}`])
      assert.equal(s.cp.calls(`/preview/${sbx.id}/access`).length, 0)
    })

    test('2. a wrong preview token → 401', T, async () => {
      const sbx = s.sandbox()
      assertGatewayError(await s.send(s.host(3000, sbx.id), '/', { headers: { 'x-daytona-preview-token': 'wrong' } }), 401, 'UNAUTHORIZED')
    })

    test('3. DAYTONA_SANDBOX_AUTH_KEY query → validated; a wrong key → 401', T, async () => {
      const sbx = s.sandbox()
      echoOf(await s.send(s.host(3000, sbx.id), `/?${KEY}=${sbx.token}`))
      assert.deepEqual(s.cp.calls(`/preview/${sbx.id}/validate`).map((c) => c.path), [`/preview/${sbx.id}/validate/${sbx.token}`])
      assertGatewayError(await s.send(s.host(3000, sbx.id), `/?${KEY}=wrong`), 401, 'UNAUTHORIZED')
    })
  })

  describe('order: the first method that succeeds wins, later calls are not made', () => {
    test('valid bearer + valid header token + valid query key → only /access is called', T, async () => {
      const sbx = s.sandbox()
      echoOf(await s.send(s.host(3000, sbx.id), `/?${KEY}=${sbx.token}`, { headers: { authorization: `Bearer ${sbx.bearer}`, ...tok(sbx) } }))
      assert.equal(s.cp.calls(`/preview/${sbx.id}/access`).length, 1)
      assert.equal(s.cp.calls(`/preview/${sbx.id}/validate`).length, 0)
    })

    test('refused bearer, valid header token → 200; the query key is not validated; Authorization removed anyway', T, async () => {
      const sbx = s.sandbox({ previewTokens: [] })
      const other = newToken('pt')
      s.cp.sandbox(sbx.id).previewTokens.add(other)
      const echo = echoOf(await s.send(s.host(3000, sbx.id), `/?${KEY}=${other}`, { headers: { authorization: 'Bearer refused-user', ...tok(sbx) } }))
      assert.deepEqual(echoHeader(echo, 'authorization'), [], 'an examined Authorization never reaches the sandbox, even when it failed')
      assert.equal(s.cp.calls(`/preview/${sbx.id}/access`).length, 1)
      assert.deepEqual(s.cp.calls(`/preview/${sbx.id}/validate`).map((c) => c.path), [`/preview/${sbx.id}/validate/${sbx.token}`])
    })

    test('refused bearer, wrong header token, valid query key → tried in that order, 200', T, async () => {
      const sbx = s.sandbox()
      echoOf(await s.send(s.host(3000, sbx.id), `/?${KEY}=${sbx.token}`, { headers: { authorization: 'Bearer refused-user', 'x-daytona-preview-token': 'wrong-header-token' } }))
      const seq = s.cp.callsMentioning(sbx.id).filter((c) => c.path.includes('/access') || c.path.includes('/validate/')).map((c) => c.path)
      assert.deepEqual(seq, [
        `/preview/${sbx.id}/access`,
        `/preview/${sbx.id}/validate/wrong-header-token`,
        `/preview/${sbx.id}/validate/${sbx.token}`,
      ])
    })

    test('wrong header token, valid session cookie → 200 (a later method wins); header removed', T, async () => {
      const sbx = s.sandbox()
      const sess = await mintOnTokenHost(sbx)
      const echo = echoOf(await s.send(s.host(3000, sess.token), '/', { headers: { cookie: sess.cookie, 'x-daytona-preview-token': 'wrong-header-token' } }))
      assert.deepEqual(echoHeader(echo, 'x-daytona-preview-token'), [])
    })
  })

  describe('fail-closed', () => {
    test('/validate failing (500) → 502/503, never served', T, async () => {
      const sbx = s.sandbox()
      const path = `/preview/${sbx.id}/validate/${sbx.token}`
      s.cp.script(path, [{ status: 500 }], { repeatLast: true })
      assertGatewayError(await s.send(s.host(3000, sbx.id), '/', { headers: tok(sbx) }), [502, 503], 'CONTROL_PLANE_UNAVAILABLE')
      s.cp.clearScript(path)
      assert.equal(s.runner.requests(sbx.id).length, 0)
    })

    test('signed-token lookup failing (500) → 502/503, never served', T, async () => {
      const sbx = s.sandbox()
      const signed = newToken('sgn')
      s.cp.addSignedToken(signed, { sandboxId: sbx.id, port: 3000 })
      const path = `/preview/${signed}/3000/sandbox-id`
      s.cp.script(path, [{ status: 500 }], { repeatLast: true })
      assertGatewayError(await s.send(s.host(3000, signed), '/'), [502, 503], 'CONTROL_PLANE_UNAVAILABLE')
      s.cp.clearScript(path)
      assert.equal(s.runner.requests(sbx.id).length, 0)
    })

    for (const [label, answer] of [['200 false', { status: 200, body: false }], ['200 "yes"', { status: 200, body: 'yes' }], ['200 empty body', { status: 200, rawBody: '' }], ['200 not JSON', { status: 200, rawBody: '<html>ok</html>' }]] as const) {
      test(`/validate answering ${label} is not a yes`, T, async () => {
        const sbx = s.sandbox()
        const path = `/preview/${sbx.id}/validate/${sbx.token}`
        s.cp.script(path, [answer], { repeatLast: true })
        const r = await s.send(s.host(3000, sbx.id), '/', { headers: tok(sbx) })
        s.cp.clearScript(path)
        assert.ok([401, 502, 503].includes(r.status), `refused, got ${r.status}`)
        assert.equal(s.runner.requests(sbx.id).length, 0)
      })
    }

    test('/access answering 200 false is not a yes', T, async () => {
      const sbx = s.sandbox()
      const path = `/preview/${sbx.id}/access`
      s.cp.script(path, [{ status: 200, body: false }], { repeatLast: true })
      const r = await s.send(s.host(3000, sbx.id), '/', { headers: { authorization: `Bearer ${sbx.bearer}` } })
      s.cp.clearScript(path)
      assertGatewayError(r, 401, 'UNAUTHORIZED')
    })
  })

  describe('session cookies (minted on signed-token hosts, SPEC §3 step 5)', () => {
    test('bound to the port: a session of port 3000 is refused on 3001 and on reserved 22222', T, async () => {
      const sbx = s.sandbox()
      const sess = await mintOnTokenHost(sbx, 3000)
      assertGatewayError(await s.send(s.host(3001, sess.token), '/', { headers: { cookie: sess.cookie } }), 401, 'UNAUTHORIZED')
      assertGatewayError(await s.send(s.host(22222, sess.token), '/', { headers: { cookie: sess.cookie } }), 401, 'UNAUTHORIZED')
      assert.deepEqual(s.runner.requests(sbx.id).map((r) => r.port), ['3000'])
    })

    test('bound to the label: a session of token A1 is refused under token A2 of the same sandbox and port', T, async () => {
      const sbx = s.sandbox()
      const sess = await mintOnTokenHost(sbx)
      const other = refusedToken(sbx)
      const before = s.runner.requests(sbx.id).length
      assertGatewayError(await s.send(s.host(3000, other), '/', { headers: { cookie: `daytona-sandbox-auth-${other}=${sess.value}` } }), 401, 'UNAUTHORIZED')
      assert.equal(s.runner.requests(sbx.id).length, before)
    })

    test('bound to the sandbox: A\'s session under B\'s cookie name is refused on B (id host and token host)', T, async () => {
      const a = s.sandbox()
      const b = s.sandbox()
      const sess = await mintOnTokenHost(a)
      const bToken = refusedToken(b)
      assertGatewayError(await s.send(s.host(3000, b.id), '/', { headers: { cookie: `daytona-sandbox-auth-${b.id}=${sess.value}` } }), 401, 'UNAUTHORIZED')
      assertGatewayError(await s.send(s.host(3000, bToken), '/', { headers: { cookie: `daytona-sandbox-auth-${bToken}=${sess.value}` } }), 401, 'UNAUTHORIZED')
      assert.equal(s.runner.requests(b.id).length, 0)
    })

    test('a tampered or garbage session is refused', T, async () => {
      const sbx = s.sandbox()
      const sess = await mintOnTokenHost(sbx)
      const value = sess.value
      const mid = Math.floor(value.length / 2)
      const flipped = value.slice(0, mid) + (value[mid] === 'A' ? 'B' : 'A') + value.slice(mid + 1)
      for (const v of [flipped, value.slice(0, -3), 'garbage', `${value}x`, '']) {
        assertGatewayError(await s.send(s.host(3000, sbx.id), '/', { headers: { cookie: `daytona-sandbox-auth-${sbx.id}=${v}` } }), 401, 'UNAUTHORIZED')
      }
      assert.equal(s.runner.requests(sbx.id).length, 1, 'only the minting request reached the sandbox')
    })
  })

  describe('5. signed-token hosts', () => {
    test('the label is tried as an id first, then resolved as a signed token; the session is minted for the token label', T, async () => {
      const sbx = s.sandbox()
      const signed = newToken('sgn')
      s.cp.addSignedToken(signed, { sandboxId: sbx.id, port: 3000 })
      const r = await s.send(s.host(3000, signed), '/app?x=1')
      const echo = echoOf(r)
      assert.equal(echo.url, `/sandboxes/${sbx.id}/toolbox/proxy/3000/app?x=1`, 'forwarded to the sandbox the token names')
      const c = sessionCookie(r, signed)
      assertCookieAttributesOverHttp(c)
      const calls = s.cp.callsMentioning(signed).map((x) => x.path)
      assert.ok(calls.includes(`/preview/${signed}/3000/sandbox-id`), calls.join(', '))
      // The token-host session works on the token host.
      echoOf(await s.send(s.host(3000, signed), '/again', { headers: { cookie: `${c.name}=${c.value}` } }))
    })

    test('a label that authenticates as a sandbox id is never resolved as a signed token', T, async () => {
      const asId = s.sandbox({ public: true })
      const elsewhere = s.sandbox()
      s.cp.addSignedToken(asId.id, { sandboxId: elsewhere.id, port: 3000 })
      assert.equal(echoOf(await s.send(s.host(3000, asId.id), '/')).sandboxId, asId.id)
      const priv = s.sandbox()
      s.cp.addSignedToken(priv.id, { sandboxId: elsewhere.id, port: 3000 })
      assert.equal(echoOf(await s.send(s.host(3000, priv.id), '/', { headers: tok(priv) })).sandboxId, priv.id)
      assert.equal(s.cp.calls(`/preview/${asId.id}/3000/sandbox-id`).length + s.cp.calls(`/preview/${priv.id}/3000/sandbox-id`).length, 0)
      assert.equal(s.runner.requests(elsewhere.id).length, 0)
    })

    test('a token for port 3000 does not open port 3001', T, async () => {
      const sbx = s.sandbox()
      const signed = newToken('sgn')
      s.cp.addSignedToken(signed, { sandboxId: sbx.id, port: 3000 })
      assertGatewayError(await s.send(s.host(3001, signed), '/'), 401, 'UNAUTHORIZED')
      assert.equal(s.runner.requests(sbx.id).length, 0)
    })

    test('expired or revoked signed tokens → 401', T, async () => {
      const sbx = s.sandbox()
      const expired = newToken('sgn')
      const revoked = newToken('sgn')
      s.cp.addSignedToken(expired, { sandboxId: sbx.id, port: 3000, expired: true })
      s.cp.addSignedToken(revoked, { sandboxId: sbx.id, port: 3000, revoked: true })
      assertGatewayError(await s.send(s.host(3000, expired), '/'), 401, 'UNAUTHORIZED')
      assertGatewayError(await s.send(s.host(3000, revoked), '/'), 401, 'UNAUTHORIZED')
      assert.equal(s.runner.requests(sbx.id).length, 0)
    })

    test('a token-host session is not accepted on the id host', T, async () => {
      const sbx = s.sandbox()
      const signed = newToken('sgn')
      s.cp.addSignedToken(signed, { sandboxId: sbx.id, port: 3000 })
      const c = sessionCookie(await s.send(s.host(3000, signed), '/'), signed)
      const before = s.runner.requests(sbx.id).length
      assertGatewayError(await s.send(s.host(3000, sbx.id), '/', { headers: { cookie: `daytona-sandbox-auth-${sbx.id}=${c.value}` } }), 401, 'UNAUTHORIZED')
      assert.equal(s.runner.requests(sbx.id).length, before)
    })

    test('a token-host session stops working within 60 s of the token\'s revocation', { timeout: 100_000 }, async () => {
      const sbx = s.sandbox()
      const signed = newToken('sgn')
      const info = s.cp.addSignedToken(signed, { sandboxId: sbx.id, port: 3000 })
      const c = sessionCookie(await s.send(s.host(3000, signed), '/'), signed)
      const cookie = `${c.name}=${c.value}`
      echoOf(await s.send(s.host(3000, signed), '/', { headers: { cookie } }))
      info.revoked = true
      const revokedAt = Date.now()
      let cookieRefusedAfter = -1
      let cookielessRefusedAfter = -1
      await waitUntil(async () => {
        if (cookieRefusedAfter < 0 && (await s.send(s.host(3000, signed), '/', { headers: { cookie } })).status === 401) cookieRefusedAfter = Date.now() - revokedAt
        if (cookielessRefusedAfter < 0 && (await s.send(s.host(3000, signed), '/')).status === 401) cookielessRefusedAfter = Date.now() - revokedAt
        return cookieRefusedAfter >= 0 && cookielessRefusedAfter >= 0
      }, { timeoutMs: 70_000, intervalMs: 1000, message: 'session and token host refused after revocation' })
      assert.ok(cookieRefusedAfter <= 62_000, `session refused within 60 s (took ${cookieRefusedAfter} ms)`)
      assert.ok(cookielessRefusedAfter <= 62_000, `signed token → id cache ≤ 60 s (took ${cookielessRefusedAfter} ms)`)
    })
  })

  describe('credentials never reach the sandbox', () => {
    const cases: ReadonlyArray<readonly [string, string]> = [
      [`${KEY}=@T`, ''],
      [`a=1&${KEY}=@T`, 'a=1'],
      [`${KEY}=@T&a=1`, 'a=1'],
      [`a=%2F+x%20&${KEY}=@T&b=%252e&c`, 'a=%2F+x%20&b=%252e&c'],
      [`x=${KEY}&${KEY}=@T`, `x=${KEY}`],
      [`my_${KEY}=keep&${KEY}=@T&${KEY}x=keep2`, `my_${KEY}=keep&${KEY}x=keep2`],
      [`a[]=1&a[]=2&${KEY}=@T`, 'a[]=1&a[]=2'],
      [`${KEY}=@T&a=1&${KEY}=@T`, 'a=1'],
      [`q=%E2%9C%93&${KEY}=@T&r=a%26b%3Dc`, 'q=%E2%9C%93&r=a%26b%3Dc'],
    ]
    for (const [query, expected] of cases) {
      test(`query key removed, rest byte for byte: ?${query}`, T, async () => {
        const sbx = s.sandbox()
        const echo = echoOf(await s.send(s.host(3000, sbx.id), `/q/%2F?${query.replaceAll('@T', sbx.token)}`))
        if (expected === '') assert.ok(echo.rest === '/q/%2F' || echo.rest === '/q/%2F?', `got ${echo.rest}`)
        else assert.equal(echo.rest, `/q/%2F?${expected}`)
        assert.ok(!echo.url.includes(sbx.token), 'the token never reaches the sandbox')
      })
    }

    test('gateway cookies are removed, the app\'s own cookies pass untouched and in order', T, async () => {
      const sbx = s.sandbox()
      const sess = await mintOnTokenHost(sbx)
      const cookie = `app=1; ${sess.cookie}; theme=dark; daytona-sandbox-auth-someone-else=x; daytona-preview-page-accepted=true; z=%20q`
      const echo = echoOf(await s.send(s.host(3000, sess.token), '/', { headers: { cookie } }))
      const forwarded = echoHeader(echo, 'cookie')
      assert.ok(forwarded.length <= 1, 'one Cookie header')
      assert.deepEqual(cookiePairs(forwarded[0]), ['app=1', 'theme=dark', 'z=%20q'])
    })

    test('a request carrying only gateway cookies reaches the app with no cookie', T, async () => {
      const sbx = s.sandbox()
      const sess = await mintOnTokenHost(sbx)
      const echo = echoOf(await s.send(s.host(3000, sess.token), '/', { headers: { cookie: sess.cookie } }))
      assert.deepEqual(echoHeader(echo, 'cookie').flatMap((v) => cookiePairs(v)), [])
    })

    test('with bearer + token + key + cookie all present, none of them is forwarded', T, async () => {
      const sbx = s.sandbox()
      const session = `daytona-sandbox-auth-${sbx.id}=not-a-valid-session`
      const echo = echoOf(await s.send(s.host(3000, sbx.id), `/x?${KEY}=${sbx.token}&keep=1`, {
        headers: { authorization: `Bearer ${sbx.bearer}`, 'x-daytona-preview-token': sbx.token, cookie: `${session}; app=2` },
      }))
      assert.deepEqual(echoHeader(echo, 'authorization'), [])
      assert.deepEqual(echoHeader(echo, 'x-daytona-preview-token'), [])
      assert.equal(echo.rest, '/x?keep=1')
      assert.deepEqual(cookiePairs(echoHeader(echo, 'cookie')[0]), ['app=2'])
      const raw = JSON.stringify(echo.rawHeaders)
      assert.ok(!raw.includes(sbx.token) && !raw.includes(sbx.bearer), 'no credential in any forwarded header')
    })
  })
})
