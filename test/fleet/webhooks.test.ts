/**
 * SPEC §9 — signed webhooks: `POST /webhooks/daytona` on a base domain, verified in the Standard
 * Webhooks / Svix scheme. A valid `sandbox.state.updated` drops the sandbox's cached answers (seen
 * through the fake control plane's call log: the next request asks the API again); forged,
 * unsigned, replayed and oversized deliveries change nothing; a duplicate event id is acknowledged
 * once. Deliveries are signed outside the gateway with the `standardwebhooks` library.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { Readable } from 'node:stream'
import { request as undiciRequest } from 'undici'
import { daytonaEnv, RawConnection, startGateway } from '../helpers/gateway.js'
import { freePort, request } from '../helpers/http.js'
import { DOMAIN, startStack, type SandboxHandle, type Stack } from '../helpers/stack.js'
import { parseExposition, scrape } from '../ops/support.js'
import { deliver, newWebhookSecret, sign, stateUpdated, WEBHOOK_PATH } from './webhook-signer.js'
import { ensureRedisServer } from './support/redis-server.js'
import { startFleet, type Fleet } from './support/fleet.js'
import { settlesWithin } from '../helpers/http.js'

const SECRET = newWebhookSecret()

describe('webhooks: POST /webhooks/daytona', { timeout: 60_000 }, () => {
  let s: Stack
  let metricsPort: number

  before(async () => {
    metricsPort = await freePort()
    s = await startStack({ WEBHOOK_SECRET: SECRET, METRICS_PORT: String(metricsPort), METRICS_BIND: '127.0.0.1' })
  })
  after(async () => { await s?.close() })

  const publicCalls = (sbx: SandboxHandle): number => s.cp.calls(`/preview/${sbx.id}/public`).length
  const get = (sbx: SandboxHandle): Promise<number> => s.send(s.host(3000, sbx.id), '/').then((r) => r.status)

  async function warmPublic(): Promise<SandboxHandle> {
    const sbx = s.sandbox({ public: true })
    assert.equal(await get(sbx), 200, 'a public sandbox is served without a credential')
    assert.equal(await get(sbx), 200)
    assert.equal(publicCalls(sbx), 1, 'the public flag is cached after the first request')
    return sbx
  }

  test('forged, unsigned, tampered, replayed, future, non-JSON and oversized deliveries are refused and change nothing', { timeout: 30_000 }, async () => {
    const sbx = await warmPublic()
    sbx.state.public = false
    const payload = stateUpdated(sbx.id)
    const port = s.gw.port

    const forged = sign(newWebhookSecret(), payload)
    assert.equal((await deliver(port, DOMAIN, forged)).status, 401, 'signed with another secret')
    const unsigned = { body: JSON.stringify(payload), headers: { 'content-type': 'application/json' } }
    assert.equal((await deliver(port, DOMAIN, unsigned)).status, 401, 'no signature headers')
    const valid = sign(SECRET, payload)
    const tampered = { body: JSON.stringify({ ...payload, id: 'someone-else' }), headers: valid.headers }
    assert.equal((await deliver(port, DOMAIN, tampered)).status, 401, 'body changed after signing')
    const replayed = sign(SECRET, payload, { at: new Date(Date.now() - 10 * 60_000) })
    assert.equal((await deliver(port, DOMAIN, replayed)).status, 401, 'timestamp 10 min old (replay window is 5 min)')
    const future = sign(SECRET, payload, { at: new Date(Date.now() + 10 * 60_000) })
    assert.equal((await deliver(port, DOMAIN, future)).status, 401, 'timestamp 10 min ahead')
    const notJson = sign(SECRET, 'not json')
    assert.equal((await deliver(port, DOMAIN, notJson)).status, 400, 'validly signed but not an event')
    const big = sign(SECRET, { ...payload, padding: 'x'.repeat(70 * 1024) })
    assert.equal((await deliver(port, DOMAIN, big)).status, 413, 'body over 64 KiB')

    assert.equal(await get(sbx), 200, 'the cached public flag is still served: nothing was invalidated')
    assert.equal(publicCalls(sbx), 1, 'no refused delivery made the gateway ask the API again')

    const text = await scrape(metricsPort)
    const rejected = (reason: string): number => parseExposition(text).find((x) => x.name === 'gateway_webhook_rejections_total' && x.labels.reason === reason)?.value ?? 0
    assert.ok(rejected('unsigned') >= 1, 'unsigned counted')
    assert.ok(rejected('bad_signature') >= 2, 'forged and tampered counted')
    assert.ok(rejected('stale') >= 2, 'replayed and future counted')
    assert.ok(rejected('too_large') >= 1, 'oversized counted')
    assert.ok(rejected('bad_payload') >= 1, 'non-JSON counted')
    assert.ok(!text.includes(sbx.id), 'no sandbox id in a metric label')
  })

  test('a valid sandbox.state.updated (svix-* or webhook-* headers) drops the cached public flag: 204, next request asks the API', { timeout: 30_000 }, async () => {
    for (const prefix of ['svix-', 'webhook-'] as const) {
      const sbx = await warmPublic()
      sbx.state.public = false
      assert.equal(await get(sbx), 200, 'precondition: the stale public flag is served from cache')
      const r = await deliver(s.gw.port, DOMAIN, sign(SECRET, stateUpdated(sbx.id), { prefix }))
      assert.equal(r.status, 204, `valid delivery with ${prefix}* headers: ${r.text}`)
      assert.equal(r.body.length, 0)
      assert.equal(await get(sbx), 401, 'the private sandbox is refused right after the event')
      assert.equal(publicCalls(sbx), 2, 'the public flag was looked up again')
    }
  })

  test('sandbox.created invalidates too; snapshot.* and volume.* are acknowledged and ignored', { timeout: 30_000 }, async () => {
    const sbx = await warmPublic()
    for (const event of ['snapshot.created', 'snapshot.state.updated', 'snapshot.removed', 'volume.created']) {
      const r = await deliver(s.gw.port, DOMAIN, sign(SECRET, { event, timestamp: new Date().toISOString(), id: sbx.id, name: 'snap', organizationId: 'org-test' }))
      assert.equal(r.status, 204, `${event} acknowledged`)
    }
    assert.equal(await get(sbx), 200)
    assert.equal(publicCalls(sbx), 1, 'non-sandbox events invalidate nothing')
    const created = { event: 'sandbox.created', timestamp: new Date().toISOString(), id: sbx.id, organizationId: 'org-test', state: 'started', class: 'small', createdAt: new Date().toISOString() }
    assert.equal((await deliver(s.gw.port, DOMAIN, sign(SECRET, created))).status, 204)
    assert.equal(await get(sbx), 200)
    assert.equal(publicCalls(sbx), 2, 'sandbox.created dropped the cached flag')
  })

  test('a duplicate event id is acknowledged (204) and applied once', { timeout: 30_000 }, async () => {
    const sbx = await warmPublic()
    const d = sign(SECRET, stateUpdated(sbx.id))
    assert.equal((await deliver(s.gw.port, DOMAIN, d)).status, 204)
    assert.equal(await get(sbx), 200)
    assert.equal(publicCalls(sbx), 2, 'first delivery invalidated')
    const again = await deliver(s.gw.port, DOMAIN, d)
    assert.equal(again.status, 204, 'a retried delivery is acknowledged so the platform stops retrying')
    assert.equal(await get(sbx), 200)
    assert.equal(publicCalls(sbx), 2, 'the duplicate did not invalidate again')
    const text = await scrape(metricsPort)
    const dup = parseExposition(text).find((x) => x.name === 'gateway_webhook_events_total' && x.labels.result === 'duplicate')
    assert.ok(dup !== undefined && dup.value >= 1, 'duplicate counted')
  })

  test('only POST; oversized bodies (declared or chunked) get 413 and the keep-alive connection still serves', { timeout: 30_000 }, async () => {
    const r = await request({ port: s.gw.port, host: DOMAIN, path: WEBHOOK_PATH })
    assert.equal(r.status, 405)
    assert.equal(r.headers.allow, 'POST')

    const conn = await RawConnection.open(s.gw.port)
    try {
      const body = Buffer.alloc(200 * 1024, 0x61)
      await conn.write(`POST ${WEBHOOK_PATH} HTTP/1.1\r\nHost: ${DOMAIN}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`)
      await conn.write(body)
      assert.equal((await conn.response(5000)).status, 413, 'declared length over the cap')
      await conn.write(`GET /health HTTP/1.1\r\nHost: ${DOMAIN}\r\n\r\n`)
      assert.equal((await conn.response(5000)).status, 200, 'the same connection serves the next request')

      await conn.write(`POST ${WEBHOOK_PATH} HTTP/1.1\r\nHost: ${DOMAIN}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n`)
      const chunk = Buffer.alloc(16 * 1024, 0x62)
      for (let i = 0; i < 8; i++) await conn.write(Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n')]))
      await conn.write('0\r\n\r\n')
      assert.equal((await conn.response(5000)).status, 413, 'chunked body over the cap')
      await conn.write(`GET /health HTTP/1.1\r\nHost: ${DOMAIN}\r\n\r\n`)
      assert.equal((await conn.response(5000)).status, 200, 'still usable after a chunked 413')
    } finally {
      conn.socket.destroy()
    }

    // No Content-Length, no Transfer-Encoding: an empty body (RFC 9112 §6.3), answered at once, connection kept.
    const bodiless = await RawConnection.open(s.gw.port)
    try {
      await bodiless.write(`POST ${WEBHOOK_PATH} HTTP/1.1\r\nHost: ${DOMAIN}\r\n\r\n`)
      assert.equal((await bodiless.response(5000)).status, 401, 'a POST without a body is refused (no signature), not left waiting')
      await bodiless.write(`GET /health HTTP/1.1\r\nHost: ${DOMAIN}\r\n\r\n`)
      assert.equal((await bodiless.response(5000)).status, 200, 'the same connection serves the next request')
    } finally {
      bodiless.socket.destroy()
    }

    // A client that keeps streaming megabytes after the cap still reads the 413 (no reset under its upload).
    const streamed = Readable.from((function* () { for (let i = 0; i < 32; i++) yield Buffer.alloc(1024 * 1024) })())
    const viaUndici = await undiciRequest(`http://127.0.0.1:${s.gw.port}${WEBHOOK_PATH}`, { method: 'POST', headers: { host: DOMAIN }, body: streamed })
    await viaUndici.body.dump()
    assert.equal(viaUndici.statusCode, 413, '32 MiB chunked upload through undici')

    // A declared multi-megabyte upload is answered before the body is sent, and the connection is closed.
    const huge = await RawConnection.open(s.gw.port)
    try {
      await huge.write(`POST ${WEBHOOK_PATH} HTTP/1.1\r\nHost: ${DOMAIN}\r\nContent-Length: ${50 * 1024 * 1024}\r\n\r\n`)
      const res = await huge.response(5000)
      assert.equal(res.status, 413)
    } finally {
      huge.socket.destroy()
    }
  })

  test('without WEBHOOK_SECRET the route is 404', { timeout: 30_000 }, async () => {
    const gw = await startGateway({ env: daytonaEnv(s.cp.url) })
    try {
      const sbx = s.sandbox({ public: true })
      const r = await deliver(gw.port, DOMAIN, sign(SECRET, stateUpdated(sbx.id)))
      assert.equal(r.status, 404)
    } finally {
      await gw.stop()
    }
  })
})

const noRedis = await ensureRedisServer()

describe('webhooks across replicas when Redis cannot be reached (SPEC §9: 204 only once every replica dropped it)', { skip: noRedis ?? false, timeout: 90_000 }, () => {
  let f: Fleet
  before(async () => { f = await startFleet({ env: { WEBHOOK_SECRET: SECRET } }) }, { timeout: 60_000 })
  after(async () => { await f?.close() }, { timeout: 30_000 })

  test('Redis paused: 503 with Retry-After (the sender retries); the same delivery once Redis is back: 204, and both replicas drop the sandbox', { timeout: 60_000 }, async () => {
    const sbx = f.sandbox({ public: true })
    const host = f.host(3000, sbx.id)
    for (let i = 0; i < 2; i++) assert.equal((await f.send(i, host, '/')).status, 200, `replica ${i} warm`)
    sbx.state.public = false
    const delivery = sign(SECRET, stateUpdated(sbx.id))
    await f.redis.pause()
    let refused
    try {
      refused = await deliver(f.gws[0]?.port as number, DOMAIN, delivery)
    } finally {
      await f.redis.resume()
    }
    assert.equal(refused.status, 503, 'not acknowledged while the other replicas cannot hear it')
    assert.match(String(refused.headers['retry-after']), /^\d+$/)
    const t0 = Date.now()
    const again = await deliver(f.gws[0]?.port as number, DOMAIN, delivery)
    assert.equal(again.status, 204, 'the retried delivery (same id) is applied, not taken for a duplicate')
    for (let i = 0; i < 2; i++) {
      await settlesWithin(t0, 1500, () => f.send(i, host, '/'), (r) => r.status === 401, (r, ms) => `replica ${i} still answered ${r.status} ${ms} ms after the 204`)
    }
  })
})
