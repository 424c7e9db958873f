/**
 * SPEC §10 wake on visit across a fleet: 200 concurrent visitors to a stopped sandbox spread
 * over two gateway processes sharing one real redis-server make exactly ONE start call (the
 * claim lives in Redis), and both replicas serve the app once it is started.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { ensureRedisServer } from './support/redis-server.js'
import { startFleet } from './support/fleet.js'
import type { Fleet } from './support/fleet.js'
import { waitUntil } from '../helpers/http.js'

const skip = await ensureRedisServer()

describe('fleet: wake on visit (SPEC §9, §10)', { skip: skip ?? false, timeout: 120_000 }, () => {
  let f: Fleet
  before(async () => { f = await startFleet({ env: { WAKE_ON_REQUEST: 'true' } }) }, { timeout: 60_000 })
  after(async () => { await f?.close() }, { timeout: 30_000 })

  test('200 visitors over two replicas: one start call, then both serve the app', { timeout: 40_000 }, async () => {
    const s = f.sandbox({ public: true, prefix: 'fleetwake' })
    f.cp.stopSandbox(s.id)
    s.state.startDelayMs = 600_000
    const host = f.host(3000, s.id)
    const replies = await Promise.all(Array.from({ length: 200 }, (_, i) => f.send(i % 2, host, `/echo/${i}`, { headers: { accept: 'application/json' } })))
    for (const r of replies) {
      assert.equal(r.status, 503, r.text.slice(0, 200))
      assert.equal(r.headers['x-preview-error'], 'SANDBOX_STARTING')
    }
    assert.equal(f.cp.startCalls(s.id), 1, 'the start was taken before the visitors of its replica were answered')
    // Later visitors on both replicas, inside the claim's minute: still no second call.
    for (let i = 0; i < 2; i++) assert.equal((await f.send(i, host, '/echo/late')).status, 503)
    assert.equal(f.cp.startCalls(s.id), 1, 'one start call for the whole fleet')
    assert.ok(await f.r.get(`pgw:once:wake:${s.id}`) !== null, 'the wake claim is held in Redis')
    f.cp.finishStart(s.id)
    for (let i = 0; i < 2; i++) {
      await waitUntil(async () => (await f.send(i, host, '/echo/up')).status === 200, { timeoutMs: 10_000, intervalMs: 100, message: `replica ${i} serves the app` })
    }
    assert.equal(f.cp.startCalls(s.id), 1)
  })
})
