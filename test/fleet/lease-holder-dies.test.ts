/**
 * SPEC §9: a replica waiting for another's control-plane call calls the API itself when the
 * lease holder dies. Replica A takes the lease for a cold key and hangs in its API call; B waits;
 * A is killed (SIGKILL); B answers within the lease lifetime plus one call, with a second call.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { ensureRedisServer } from './support/redis-server.js'
import { startFleet } from './support/fleet.js'
import type { Fleet } from './support/fleet.js'
import { waitUntil } from '../helpers/http.js'

const skip = await ensureRedisServer()

describe('fleet: lease holder dies (SPEC §9)', { skip: skip ?? false, timeout: 90_000 }, () => {
  let f: Fleet
  before(async () => { f = await startFleet() }, { timeout: 60_000 })
  after(async () => { await f?.close() }, { timeout: 30_000 })

  test('the waiting replica calls the API itself once the holder stops renewing its lease', { timeout: 30_000 }, async () => {
    const s = f.sandbox({ public: true })
    const host = f.host(3000, s.id)
    // First call hangs (A's); the next ones are answered from state.
    f.cp.script(`/preview/${s.id}/public`, [{ hang: true }])
    const onA = f.send(0, host, '/echo', { timeoutMs: 20_000 }).catch((err: unknown) => err)
    await f.cp.waitForCall((c) => c.path === `/preview/${s.id}/public`, 10_000)
    await waitUntil(async () => (await f.r.exists(`pgw:lease:proxy:sandbox-public:${s.id}`)) === 1, { timeoutMs: 5000, message: 'A holds the lease' })
    const t0 = Date.now()
    const onB = f.send(1, host, '/echo', { timeoutMs: 20_000 })
    // B waits instead of calling: still one call after a while.
    await new Promise<void>((r) => setTimeout(r, 300))
    assert.equal(f.cp.callsPerEndpoint(s.id).public, 1, 'B must wait for the holder, not call')
    f.gws[0]?.child.kill('SIGKILL')
    const r = await onB
    const ms = Date.now() - t0
    process.stderr.write(`[fleet] holder killed: the waiter answered after ${ms} ms\n`)
    assert.equal(r.status, 200)
    assert.equal(f.cp.callsPerEndpoint(s.id).public, 2)
    assert.ok(ms < 5000, `waiter answered only after ${ms} ms`)
    await onA
  })
})

describe('fleet: a lease holder still retrying has not failed (SPEC §9)', { skip: skip ?? false, timeout: 90_000 }, () => {
  let f: Fleet
  before(async () => { f = await startFleet({ env: { API_CLIENT_TIMEOUT_SEC: '1' } }) }, { timeout: 60_000 })
  after(async () => { await f?.close() }, { timeout: 30_000 })

  test('the waiter waits out the holder\'s retries (its first try times out after 1 s) instead of calling too', { timeout: 30_000 }, async () => {
    const s = f.sandbox({ public: true })
    const host = f.host(3000, s.id)
    // The holder's first try hangs until its 1 s timeout; its retry is answered from state.
    f.cp.script(`/preview/${s.id}/public`, [{ hang: true }])
    const onA = f.send(0, host, '/echo', { timeoutMs: 20_000 })
    await f.cp.waitForCall((c) => c.path === `/preview/${s.id}/public`, 10_000)
    await waitUntil(async () => (await f.r.exists(`pgw:lease:proxy:sandbox-public:${s.id}`)) === 1, { timeoutMs: 5000, message: 'A holds the lease' })
    const onB = f.send(1, host, '/echo', { timeoutMs: 20_000 })
    const [a, b] = await Promise.all([onA, onB])
    assert.equal(a.status, 200)
    assert.equal(b.status, 200)
    assert.equal(f.cp.callsPerEndpoint(s.id).public, 2, 'the holder\'s two tries, and no call of the waiter\'s own')
  })
})
