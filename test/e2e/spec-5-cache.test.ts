/**
 * SPEC §5 — caching of control-plane answers: concurrent misses coalesce into one call, answers
 * are reused within their TTL, a public-flag change takes effect within 30 s, signed token → id
 * is cached, and a runner entry is dropped at once when its connection is refused or reset.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import net from 'node:net'
import { startStack } from '../helpers/stack.js'
import type { Stack } from '../helpers/stack.js'
import { assertGatewayError, echoOf } from '../helpers/assertions.js'
import { freePort, newId, newToken, waitUntil } from '../helpers/http.js'

const T = { timeout: 30_000 }

describe('SPEC §5 caching', () => {
  let s: Stack
  before(async () => { s = await startStack() })
  after(async () => { await s?.close() })

  test('200 concurrent cold requests for a public sandbox → 1 public call and 1 runner call', T, async () => {
    const sbx = s.sandbox({ public: true })
    s.cp.script(`/preview/${sbx.id}/public`, [{ delayMs: 300 }], { repeatLast: true })
    s.cp.script(`/runners/by-sandbox/${sbx.id}`, [{ delayMs: 300 }], { repeatLast: true })
    const replies = await Promise.all(Array.from({ length: 200 }, (_, i) => s.send(s.host(3000, sbx.id), `/c${i}`, { timeoutMs: 20_000 })))
    for (const r of replies) echoOf(r)
    assert.equal(s.cp.calls(`/preview/${sbx.id}/public`).length, 1)
    assert.equal(s.cp.calls(`/runners/by-sandbox/${sbx.id}`).length, 1)
  })

  test('200 concurrent cold requests with one preview token → 1 validate call', T, async () => {
    const sbx = s.sandbox()
    s.cp.script(`/preview/${sbx.id}/validate/${sbx.token}`, [{ delayMs: 300 }], { repeatLast: true })
    s.cp.script(`/preview/${sbx.id}/public`, [{ delayMs: 100 }], { repeatLast: true })
    const replies = await Promise.all(Array.from({ length: 200 }, () => s.send(s.host(3000, sbx.id), '/', { headers: { 'x-daytona-preview-token': sbx.token }, timeoutMs: 20_000 })))
    for (const r of replies) echoOf(r)
    assert.equal(s.cp.calls(`/preview/${sbx.id}/validate/${sbx.token}`).length, 1)
    assert.equal(s.cp.calls(`/preview/${sbx.id}/public`).length, 1)
    assert.equal(s.cp.calls(`/runners/by-sandbox/${sbx.id}`).length, 1)
  })

  test('valid token, valid bearer, public flag and runner are reused on the next request', T, async () => {
    const pub = s.sandbox({ public: true })
    echoOf(await s.send(s.host(3000, pub.id), '/'))
    echoOf(await s.send(s.host(3000, pub.id), '/'))
    assert.equal(s.cp.calls(`/preview/${pub.id}/public`).length, 1)
    assert.equal(s.cp.calls(`/runners/by-sandbox/${pub.id}`).length, 1)

    const priv = s.sandbox()
    for (let i = 0; i < 3; i++) echoOf(await s.send(s.host(3000, priv.id), '/', { headers: { 'x-daytona-preview-token': priv.token } }))
    assert.equal(s.cp.calls(`/preview/${priv.id}/validate/${priv.token}`).length, 1)
    for (let i = 0; i < 3; i++) echoOf(await s.send(s.host(3000, priv.id), '/', { headers: { authorization: `Bearer ${priv.bearer}` } }))
    assert.equal(s.cp.calls(`/preview/${priv.id}/access`).length, 1)
  })

  test('an invalid token is cached for at least 2 s', T, async () => {
    const sbx = s.sandbox()
    const started = Date.now()
    assertGatewayError(await s.send(s.host(3000, sbx.id), '/', { headers: { 'x-daytona-preview-token': 'nope' } }), 401, 'UNAUTHORIZED')
    assertGatewayError(await s.send(s.host(3000, sbx.id), '/', { headers: { 'x-daytona-preview-token': 'nope' } }), 401, 'UNAUTHORIZED')
    const elapsed = Date.now() - started
    if (elapsed < 1800) assert.equal(s.cp.calls(`/preview/${sbx.id}/validate/nope`).length, 1)
  })

  test('signed token → sandbox id is cached: two cookieless requests make one lookup', T, async () => {
    const sbx = s.sandbox()
    const signed = newToken('sgn')
    s.cp.addSignedToken(signed, { sandboxId: sbx.id, port: 3000 })
    echoOf(await s.send(s.host(3000, signed), '/'))
    echoOf(await s.send(s.host(3000, signed), '/'))
    assert.equal(s.cp.calls(`/preview/${signed}/3000/sandbox-id`).length, 1)
  })

  test('a public-flag change is cached at least 10 s and takes effect within 30 s', { timeout: 50_000 }, async () => {
    const sbx = s.sandbox({ public: true })
    echoOf(await s.send(s.host(3000, sbx.id), '/'))
    s.cp.setPublic(sbx.id, false)
    const changedAt = Date.now()
    echoOf(await s.send(s.host(3000, sbx.id), '/'))
    await waitUntil(async () => (await s.send(s.host(3000, sbx.id), '/')).status === 401, { timeoutMs: 40_000, intervalMs: 1000, message: 'sandbox no longer public' })
    const took = Date.now() - changedAt
    assert.ok(took <= 31_000, `the change took effect within 30 s (took ${took} ms)`)
    assert.ok(took >= 9_000, `the public flag was cached at least 10 s (took ${took} ms)`)
  })

  test('a runner whose connection is refused is dropped at once and looked up again', T, async () => {
    const sbx = s.sandbox({ public: true })
    const deadPort = await freePort()
    s.cp.setRunner(sbx.id, { id: newId('dead'), proxyUrl: `http://127.0.0.1:${deadPort}`, apiUrl: `http://127.0.0.1:${deadPort}`, apiKey: 'dead-key' })
    assertGatewayError(await s.send(s.host(3000, sbx.id), '/'), 502, 'UPSTREAM_UNREACHABLE')
    const lookups = s.cp.calls(`/runners/by-sandbox/${sbx.id}`).length
    assert.ok(lookups >= 1)
    s.cp.setRunner(sbx.id, s.runnerInfo)
    echoOf(await s.send(s.host(3000, sbx.id), '/'))
    assert.equal(s.cp.calls(`/runners/by-sandbox/${sbx.id}`).length, lookups + 1, 'the runner was looked up again')
  })

  test('a runner whose connection is reset is dropped at once and looked up again', T, async (t) => {
    const resetter = net.createServer((sock) => { sock.on('error', () => {}); sock.once('data', () => sock.resetAndDestroy()) })
    await new Promise<void>((resolve) => resetter.listen(0, '127.0.0.1', () => resolve()))
    t.after(() => new Promise<void>((resolve) => resetter.close(() => resolve())))
    const addr = resetter.address()
    assert.ok(addr !== null && typeof addr === 'object')
    const sbx = s.sandbox({ public: true })
    s.cp.setRunner(sbx.id, { id: newId('reset'), proxyUrl: `http://127.0.0.1:${addr.port}`, apiUrl: `http://127.0.0.1:${addr.port}`, apiKey: 'reset-key' })
    assertGatewayError(await s.send(s.host(3000, sbx.id), '/'), 502, 'UPSTREAM_UNREACHABLE')
    const lookups = s.cp.calls(`/runners/by-sandbox/${sbx.id}`).length
    s.cp.setRunner(sbx.id, s.runnerInfo)
    echoOf(await s.send(s.host(3000, sbx.id), '/'))
    assert.equal(s.cp.calls(`/runners/by-sandbox/${sbx.id}`).length, lookups + 1)
  })

})
