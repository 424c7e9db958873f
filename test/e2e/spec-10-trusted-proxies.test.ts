/**
 * SPEC §10 — TRUSTED_PROXIES: X-Forwarded-For/-Host/-Proto from a peer in the list are kept (For
 * appended to), from anyone else replaced; HTTP previews, the toolbox route and WebSocket upgrades
 * alike. Two gateways share one fake control plane and runner: one trusts 127.0.0.1 (the test's
 * own address), the other only 10.0.0.0/8 and ::ffff:192.0.2.0/120.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { startStack } from '../helpers/stack.js'
import type { Stack } from '../helpers/stack.js'
import { daytonaEnv, startGateway } from '../helpers/gateway.js'
import type { GatewayProcess } from '../helpers/gateway.js'
import { echoHeader, echoOf } from '../helpers/assertions.js'
import { request } from '../helpers/http.js'
import { openWs } from '../helpers/ws.js'

const T = { timeout: 20_000 }
const LOCAL = /^(::ffff:)?127\.0\.0\.1$/
const FORWARDED = { 'x-forwarded-for': '203.0.113.7, 198.51.100.2', 'x-forwarded-host': 'app.example.com', 'x-forwarded-proto': 'https' }

describe('SPEC §10 TRUSTED_PROXIES', () => {
  let s: Stack
  let untrusting: GatewayProcess

  before(async () => {
    s = await startStack({ TRUSTED_PROXIES: '127.0.0.1/32,2001:db8::/32' })
    untrusting = await startGateway({ env: daytonaEnv(s.cp.url, { TRUSTED_PROXIES: '10.0.0.0/8,::ffff:192.0.2.0/120' }) })
  })

  after(async () => {
    await untrusting?.stop()
    await s?.close()
  })

  function send(gw: GatewayProcess, host: string, path: string, headers: Record<string, string>): ReturnType<typeof request> {
    return request({ port: gw.port, host, path, headers, timeoutMs: 10_000 })
  }

  test('from a trusted peer: Host and Proto kept, For appended to (preview and toolbox)', T, async () => {
    const sbx = s.sandbox({ public: true })
    const host = s.host(3000, sbx.id)
    const echo = echoOf(await send(s.gw, host, '/', FORWARDED))
    assert.deepEqual(echoHeader(echo, 'x-forwarded-host'), ['app.example.com'])
    assert.deepEqual(echoHeader(echo, 'x-forwarded-proto'), ['https'])
    const xff = echoHeader(echo, 'x-forwarded-for')
    assert.equal(xff.length, 1)
    const hops = (xff[0] ?? '').split(/,\s*/)
    assert.deepEqual(hops.slice(0, 2), ['203.0.113.7', '198.51.100.2'])
    assert.match(hops[2] ?? '', LOCAL, 'the peer address appended')
    assert.equal(hops.length, 3)
    // No X-Forwarded-* sent: the gateway sets its own even for a trusted peer.
    const plain = echoOf(await send(s.gw, host, '/', {}))
    assert.deepEqual(echoHeader(plain, 'x-forwarded-host'), [host])
    assert.deepEqual(echoHeader(plain, 'x-forwarded-proto'), ['http'])
    assert.match(echoHeader(plain, 'x-forwarded-for')[0] ?? '', LOCAL)
    // The toolbox route.
    const tb = echoOf(await send(s.gw, 'preview.test', `/toolbox/${sbx.id}/echo`, { ...FORWARDED, authorization: `Bearer ${sbx.bearer}` }))
    assert.deepEqual(echoHeader(tb, 'x-forwarded-host'), ['app.example.com'])
    assert.match(echoHeader(tb, 'x-forwarded-for')[0] ?? '', /^203\.0\.113\.7, 198\.51\.100\.2, (::ffff:)?127\.0\.0\.1$/)
  })

  test('from any other peer: all three replaced (the reference appends blindly, #4846)', T, async () => {
    const sbx = s.sandbox({ public: true })
    const host = s.host(3000, sbx.id)
    const echo = echoOf(await send(untrusting, host, '/', FORWARDED))
    assert.deepEqual(echoHeader(echo, 'x-forwarded-host'), [host])
    assert.deepEqual(echoHeader(echo, 'x-forwarded-proto'), ['http'])
    const xff = echoHeader(echo, 'x-forwarded-for')
    assert.equal(xff.length, 1)
    assert.match(xff[0] ?? '', LOCAL, 'only the peer address')
    const tb = echoOf(await send(untrusting, 'preview.test', `/toolbox/${sbx.id}/echo`, { ...FORWARDED, authorization: `Bearer ${sbx.bearer}` }))
    assert.deepEqual(echoHeader(tb, 'x-forwarded-host'), ['preview.test'])
    assert.match(echoHeader(tb, 'x-forwarded-for')[0] ?? '', LOCAL)
  })

  test('WebSocket upgrades follow the same rule', T, async () => {
    const sbx = s.sandbox({ public: true })
    const host = s.host(3000, sbx.id)
    for (const [gw, trusted] of [[s.gw, true], [untrusting, false]] as const) {
      const path = `/ws-${trusted ? 'trusted' : 'untrusted'}`
      const o = await openWs({ port: gw.port, host, path, headers: FORWARDED })
      assert.equal(o.kind, 'open')
      if (o.kind === 'open') o.ws.close()
      const seen = await s.runner.waitForRequest((r) => r.kind === 'ws' && r.url.endsWith(path), 5000)
      const h = seen.headers
      if (trusted) {
        assert.equal(h['x-forwarded-host'], 'app.example.com')
        assert.equal(h['x-forwarded-proto'], 'https')
        assert.match(String(h['x-forwarded-for']), /^203\.0\.113\.7, 198\.51\.100\.2, (::ffff:)?127\.0\.0\.1$/)
      } else {
        assert.equal(h['x-forwarded-host'], host)
        assert.equal(h['x-forwarded-proto'], 'http')
        assert.match(String(h['x-forwarded-for']), LOCAL)
      }
    }
  })
})
