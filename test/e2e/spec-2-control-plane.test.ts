/**
 * SPEC §2 — control-plane calls: exact paths, the API key (or the user's bearer on /access),
 * "a 4xx other than 408/429 is a definite no", failures retried (3 tries) then 502/503 and never
 * cached, cancellation when nobody waits, and ids/tokens encoded per segment.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { startStack } from '../helpers/stack.js'
import type { Stack } from '../helpers/stack.js'
import { assertGatewayError, echoOf } from '../helpers/assertions.js'
import { newToken, waitUntil, withTimeout } from '../helpers/http.js'
import http from 'node:http'

const T = { timeout: 30_000 }
const UNAVAILABLE = [502, 503]

describe('SPEC §2 control-plane calls (API_CLIENT_TIMEOUT_SEC=20)', () => {
  let s: Stack
  before(async () => { s = await startStack({ API_CLIENT_TIMEOUT_SEC: '20' }) })
  after(async () => { await s?.close() })

  test('preview-token request: exact paths, each with Authorization: Bearer {PROXY_API_KEY}', T, async () => {
    const sbx = s.sandbox()
    echoOf(await s.send(s.host(3000, sbx.id), '/', { headers: { 'x-daytona-preview-token': sbx.token } }))
    await s.cp.waitForCall((c) => c.path === `/sandbox/${sbx.id}/last-activity`, 5000)
    const calls = s.cp.callsMentioning(sbx.id)
    const paths = calls.map((c) => `${c.method} ${c.path}`)
    assert.ok(paths.includes(`GET /preview/${sbx.id}/validate/${sbx.token}`), paths.join(', '))
    assert.ok(paths.includes(`GET /runners/by-sandbox/${sbx.id}`), paths.join(', '))
    assert.ok(paths.includes(`POST /sandbox/${sbx.id}/last-activity`), paths.join(', '))
    for (const c of calls) {
      assert.equal(c.headers.authorization, 'Bearer test-api-key', `${c.method} ${c.path} carries the API key`)
    }
  })

  test('/preview/{id}/access is called with the user\'s bearer, never the API key', T, async () => {
    const sbx = s.sandbox()
    echoOf(await s.send(s.host(3000, sbx.id), '/', { headers: { authorization: `Bearer ${sbx.bearer}` } }))
    const access = s.cp.calls(`/preview/${sbx.id}/access`)
    assert.equal(access.length, 1)
    assert.equal(access[0]?.headers.authorization, `Bearer ${sbx.bearer}`)
    assert.ok(!JSON.stringify(access[0]?.rawHeaders).includes('test-api-key'), 'the API key is not sent with the user call')
  })

  test('a signed-token host calls GET /preview/{token}/{port}/sandbox-id with the API key', T, async () => {
    const sbx = s.sandbox()
    const signed = newToken('sgn')
    s.cp.addSignedToken(signed, { sandboxId: sbx.id, port: 3000 })
    const echo = echoOf(await s.send(s.host(3000, signed), '/'))
    assert.equal(echo.sandboxId, sbx.id)
    const calls = s.cp.calls(`/preview/${signed}/3000/sandbox-id`)
    assert.equal(calls.length, 1)
    assert.equal(calls[0]?.headers.authorization, 'Bearer test-api-key')
  })

  test('500 three times → 502/503 CONTROL_PLANE_UNAVAILABLE after exactly 3 tries; nothing cached', T, async () => {
    const sbx = s.sandbox()
    const path = `/preview/${sbx.id}/validate/${sbx.token}`
    s.cp.script(path, [{ status: 500 }, { status: 500 }, { status: 500 }])
    const r = await s.send(s.host(3000, sbx.id), '/', { headers: { 'x-daytona-preview-token': sbx.token } })
    assertGatewayError(r, UNAVAILABLE, 'CONTROL_PLANE_UNAVAILABLE')
    assert.equal(s.cp.calls(path).length, 3, 'exactly 3 tries')
    assert.equal(s.runner.requests(sbx.id).length, 0, 'a failure is never a yes')
    // The failure was not cached as "no": the next request asks again and succeeds.
    echoOf(await s.send(s.host(3000, sbx.id), '/', { headers: { 'x-daytona-preview-token': sbx.token } }))
    assert.equal(s.cp.calls(path).length, 4)
  })

  test('500 then 200 → served after 2 tries', T, async () => {
    const sbx = s.sandbox()
    const path = `/preview/${sbx.id}/validate/${sbx.token}`
    s.cp.script(path, [{ status: 500 }])
    echoOf(await s.send(s.host(3000, sbx.id), '/', { headers: { 'x-daytona-preview-token': sbx.token } }))
    assert.equal(s.cp.calls(path).length, 2)
  })

  for (const status of [408, 429, 502, 503]) {
    test(`${status} is a failure, retried: 3 tries then 502/503`, T, async () => {
      const sbx = s.sandbox()
      const path = `/preview/${sbx.id}/validate/${sbx.token}`
      s.cp.script(path, [{ status }], { repeatLast: true })
      const r = await s.send(s.host(3000, sbx.id), '/', { headers: { 'x-daytona-preview-token': sbx.token } })
      assertGatewayError(r, UNAVAILABLE, 'CONTROL_PLANE_UNAVAILABLE')
      assert.equal(s.cp.calls(path).length, 3)
      s.cp.clearScript(path)
    })
  }

  for (const status of [400, 401, 403, 404]) {
    test(`${status} is a definite "no": 401, one call, no retry`, T, async () => {
      const sbx = s.sandbox()
      const path = `/preview/${sbx.id}/validate/${sbx.token}`
      s.cp.script(path, [{ status }], { repeatLast: true })
      const r = await s.send(s.host(3000, sbx.id), '/', { headers: { 'x-daytona-preview-token': sbx.token } })
      assertGatewayError(r, 401, 'UNAUTHORIZED')
      assert.equal(s.cp.calls(path).length, 1)
      s.cp.clearScript(path)
    })
  }

  test('503 then 404 → a definite no after one retry (401)', T, async () => {
    const sbx = s.sandbox()
    const path = `/preview/${sbx.id}/validate/${sbx.token}`
    s.cp.script(path, [{ status: 503 }, { status: 404 }])
    const r = await s.send(s.host(3000, sbx.id), '/', { headers: { 'x-daytona-preview-token': sbx.token } })
    assertGatewayError(r, 401, 'UNAUTHORIZED')
    assert.equal(s.cp.calls(path).length, 2)
  })

  test('connection reset three times → 502/503 after 3 tries', T, async () => {
    const sbx = s.sandbox()
    const path = `/preview/${sbx.id}/validate/${sbx.token}`
    s.cp.script(path, [{ reset: true }], { repeatLast: true })
    const r = await s.send(s.host(3000, sbx.id), '/', { headers: { 'x-daytona-preview-token': sbx.token } })
    assertGatewayError(r, UNAVAILABLE, 'CONTROL_PLANE_UNAVAILABLE')
    assert.equal(s.cp.calls(path).length, 3)
    s.cp.clearScript(path)
  })

  test('public-flag lookup failing → 502/503 for a cookieless request, then asked again (not cached)', T, async () => {
    const sbx = s.sandbox({ public: true })
    const path = `/preview/${sbx.id}/public`
    s.cp.script(path, [{ status: 500 }, { status: 500 }, { status: 500 }])
    const r = await s.send(s.host(3000, sbx.id), '/')
    assertGatewayError(r, UNAVAILABLE, 'CONTROL_PLANE_UNAVAILABLE')
    assert.equal(s.cp.calls(path).length, 3)
    assert.equal(s.runner.requests(sbx.id).length, 0)
    echoOf(await s.send(s.host(3000, sbx.id), '/'))
    assert.equal(s.cp.calls(path).length, 4)
  })

  test('runner lookup failing → 502/503 CONTROL_PLANE_UNAVAILABLE, then looked up again', T, async () => {
    const sbx = s.sandbox({ public: true })
    const path = `/runners/by-sandbox/${sbx.id}`
    s.cp.script(path, [{ status: 500 }, { status: 500 }, { status: 500 }])
    const r = await s.send(s.host(3000, sbx.id), '/')
    assertGatewayError(r, UNAVAILABLE, 'CONTROL_PLANE_UNAVAILABLE')
    assert.equal(s.cp.calls(path).length, 3)
    echoOf(await s.send(s.host(3000, sbx.id), '/'))
    assert.equal(s.cp.calls(path).length, 4)
  })

  test('/access failing with no other credential → 502/503, never a yes', T, async () => {
    const sbx = s.sandbox()
    const path = `/preview/${sbx.id}/access`
    s.cp.script(path, [{ status: 500 }], { repeatLast: true })
    const r = await s.send(s.host(3000, sbx.id), '/', { headers: { authorization: `Bearer ${sbx.bearer}` } })
    assertGatewayError(r, UNAVAILABLE, 'CONTROL_PLANE_UNAVAILABLE')
    assert.equal(s.cp.calls(path).length, 3)
    assert.equal(s.runner.requests(sbx.id).length, 0)
    s.cp.clearScript(path)
  })

  test('an API call is cancelled when the client that waited for it goes away', T, async () => {
    const sbx = s.sandbox()
    const path = `/preview/${sbx.id}/validate/${sbx.token}`
    s.cp.script(path, [{ hang: true }], { repeatLast: true })
    const req = http.request({ host: '127.0.0.1', port: s.gw.port, path: '/', headers: { host: s.host(3000, sbx.id), 'x-daytona-preview-token': sbx.token }, agent: false })
    req.on('error', () => { /* we abort it */ })
    req.end()
    const call = await s.cp.waitForCall((c) => c.path === path, 5000)
    req.destroy()
    const outcome = await withTimeout(call.settled, 5000, 'hung control-plane call cancelled after the client left')
    assert.equal(outcome, 'aborted')
    s.cp.clearScript(path)
  })

  test('last-activity posts are detached from the request that caused them', T, async () => {
    const sbx = s.sandbox()
    const path = `/sandbox/${sbx.id}/last-activity`
    s.cp.script(path, [{ delayMs: 800 }])
    echoOf(await s.send(s.host(3000, sbx.id), '/', { headers: { 'x-daytona-preview-token': sbx.token } }))
    const call = await s.cp.waitForCall((c) => c.method === 'POST' && c.path === path, 5000)
    // The client got its answer and its connection is gone; the post still completes.
    assert.equal(await withTimeout(call.settled, 5000, 'last-activity post settles'), 'answered')
  })

  test('ids and tokens are charset-checked or encoded per segment: a token cannot walk the API path', T, async () => {
    const sbx = s.sandbox()
    const victim = s.sandbox()
    const before = s.cp.calls().length
    for (const token of [`../../runners/by-sandbox/${victim.id}`, 'abc?x=1', 'a/b', '..', '%2e%2e', 'x#frag']) {
      const r = await s.send(s.host(3000, sbx.id), '/', { headers: { 'x-daytona-preview-token': token } })
      assertGatewayError(r, 401, 'UNAUTHORIZED')
    }
    const calls = s.cp.calls().slice(before)
    for (const c of calls) {
      assert.ok(!c.url.includes(`/runners/by-sandbox/${victim.id}`), `no call reached another endpoint: ${c.url}`)
      for (const seg of c.path.split('/')) {
        let decoded = seg
        try { decoded = decodeURIComponent(seg) } catch { /* left as is */ }
        assert.ok(decoded !== '.' && decoded !== '..', `no dot segment (raw or %-encoded) in a control-plane path: ${c.url}`)
      }
      assert.ok(!c.url.includes('?') && !c.url.includes('#'), `no query or fragment smuggled into a call: ${c.url}`)
      if (c.path.startsWith(`/preview/${sbx.id}/validate/`)) {
        assert.equal(c.path.split('/').length, 5, `the token stays one segment: ${c.url}`)
      }
    }
  })
})

describe('SPEC §2 timeouts (API_CLIENT_TIMEOUT_SEC=1)', () => {
  let s: Stack
  before(async () => { s = await startStack({ API_CLIENT_TIMEOUT_SEC: '1' }) })
  after(async () => { await s?.close() })

  test('an API call that hangs is a failure: 3 tries, then 502/503, each try cancelled', { timeout: 30_000 }, async () => {
    const sbx = s.sandbox()
    const path = `/preview/${sbx.id}/validate/${sbx.token}`
    s.cp.script(path, [{ hang: true }], { repeatLast: true })
    const started = Date.now()
    const r = await s.send(s.host(3000, sbx.id), '/', { headers: { 'x-daytona-preview-token': sbx.token }, timeoutMs: 25_000 })
    assertGatewayError(r, UNAVAILABLE, 'CONTROL_PLANE_UNAVAILABLE')
    assert.ok(Date.now() - started < 15_000, 'answered within bounded retries')
    assert.equal(s.cp.calls(path).length, 3)
    await waitUntil(() => s.cp.calls(path).every((c) => c.outcome === 'aborted'), { timeoutMs: 5000, message: 'every hung try was cancelled' })
    s.cp.clearScript(path)
  })
})
