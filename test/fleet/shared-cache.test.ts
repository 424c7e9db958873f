/**
 * SPEC §9 shared cache over two gateway processes and one real redis-server: the Daytona API's
 * plain DEL of a reference key reaches both replicas within 1 s; the reference's keys and value
 * format; runner keys never in clear; a cold burst spread over both replicas costs one call per
 * control-plane endpoint.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { ensureRedisServer } from './support/redis-server.js'
import { startFleet } from './support/fleet.js'
import type { Fleet } from './support/fleet.js'
import { RUNNER_KEY } from '../helpers/stack.js'
import { settlesWithin, type Reply } from '../helpers/http.js'

const skip = await ensureRedisServer()

describe('fleet: shared cache (SPEC §5, §9)', { skip: skip ?? false, timeout: 120_000 }, () => {
  let f: Fleet
  before(async () => { f = await startFleet() }, { timeout: 60_000 })
  after(async () => { await f?.close() }, { timeout: 30_000 })

  test('a public sandbox made private (API DEL) is refused by both replicas within 1 s', { timeout: 30_000 }, async () => {
    const s = f.sandbox({ public: true })
    const host = f.host(3000, s.id)
    // Warm both replicas (memory and Redis).
    for (let i = 0; i < 2; i++) {
      for (let k = 0; k < 3; k++) assert.equal((await f.send(i, host, '/echo')).status, 200)
    }
    assert.equal(await f.r.get(`proxy:sandbox-public:${s.id}`), '{"value":true}')
    const t0 = Date.now()
    await f.cp.changePublic(s.id, false)
    const refusedAt: number[] = []
    for (let i = 0; i < 2; i++) {
      const refused = (r: Reply): boolean => { if (r.status === 401) return true; assert.equal(r.status, 200); return false }
      refusedAt.push(await settlesWithin(t0, 1000, () => f.send(i, host, '/echo'), refused, (_r, ms) => `replica ${i} served the private sandbox to a request sent ${ms} ms after the DEL`))
    }
    process.stderr.write(`[fleet] DEL → refused by both replicas after ${refusedAt.join(' / ')} ms\n`)
  })

  test('runner info is shared in the reference shape with the apiKey encrypted', { timeout: 30_000 }, async () => {
    const s = f.sandbox({ public: true })
    assert.equal((await f.send(0, f.host(3000, s.id), '/echo')).status, 200)
    const raw = await f.r.get(`proxy:sandbox-runner-info:${s.id}`)
    assert.ok(raw !== null, 'runner info stored under the reference key')
    assert.ok(!raw.includes(RUNNER_KEY), 'runner apiKey must never be stored in clear')
    const v = (JSON.parse(raw) as { value: { apiUrl: string; apiKey: string } }).value
    assert.equal(v.apiUrl, f.runnerInfo.proxyUrl)
    assert.match(v.apiKey, /^enc:v1:/)
    // The other replica serves from Redis: no second runner call.
    assert.equal((await f.send(1, f.host(3000, s.id), '/echo')).status, 200)
    assert.equal(f.cp.callsPerEndpoint(s.id).runner, 1)
    // Every key we wrote holds no token in clear.
    for (const key of await f.r.keys('*')) {
      assert.ok(!key.includes(s.token) && !key.includes(s.bearer), `key ${key} holds a token`)
    }
  })

  test('runner moved (API DEL of runner info): both replicas follow within 1 s', { timeout: 30_000 }, async () => {
    const s = f.sandbox({ public: true })
    const host = f.host(3000, s.id)
    for (let i = 0; i < 2; i++) assert.equal((await f.send(i, host, '/echo')).status, 200)
    const t0 = Date.now()
    await f.cp.changeRunner(s.id, null)
    for (let i = 0; i < 2; i++) {
      await settlesWithin(t0, 1000, () => f.send(i, host, '/echo'), (r) => r.status !== 200, (_r, ms) => `replica ${i} forwarded a request sent ${ms} ms after the DEL to the old runner`)
    }
  })

  test('an auth answer read from Redis late lives in memory only as long as its key has left: a revoked token does not outlive its TTL', { timeout: 30_000 }, async () => {
    const s = f.sandbox()
    const host = f.host(3000, s.id)
    const tok = { 'x-daytona-preview-token': s.token }
    assert.equal((await f.send(0, host, '/echo', { headers: tok })).status, 200, 'replica 0 validates and shares the answer')
    const keys = await f.r.keys(`pgw:preview-token:${s.id}:*`)
    assert.equal(keys.length, 1, `one shared auth answer: ${keys.join(', ')}`)
    // As if replica 1 came 2 min less 1.5 s later: the key has 1.5 s left.
    await f.r.pExpire(keys[0] as string, 1500)
    f.cp.sandboxes.get(s.id)?.previewTokens.delete(s.token)
    const t0 = Date.now()
    const validations = (): number => f.cp.calls(`/preview/${s.id}/validate/`).length
    const before = validations()
    assert.equal((await f.send(1, host, '/echo', { headers: tok })).status, 200, 'replica 1 reads the still valid answer from Redis')
    assert.equal(validations(), before, 'without a call')
    const refusedAfter = await settlesWithin(t0, 3000, () => f.send(1, host, '/echo', { headers: tok }), (r) => r.status === 401, (r, ms) => `replica 1 still answered ${r.status} to the revoked token ${ms} ms later (its Redis key had 1.5 s left)`)
    process.stderr.write(`[fleet] revoked token refused by the late replica after ${refusedAfter} ms (key had 1500 ms left)\n`)
  })

  test('200 concurrent cold requests over both replicas: one call per control-plane endpoint', { timeout: 60_000 }, async () => {
    const s = f.sandbox()
    // A slow API makes the burst truly concurrent across replicas.
    f.cp.script(`/preview/${s.id}/public`, [{ delayMs: 150 }])
    const host = f.host(3000, s.id)
    const replies = await Promise.all(Array.from({ length: 200 }, (_, k) =>
      f.send(k % 2, host, `/echo?k=${k}`, { headers: { 'x-daytona-preview-token': s.token }, timeoutMs: 20_000 })))
    const statuses = new Map<number, number>()
    for (const r of replies) statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1)
    assert.deepEqual([...statuses], [[200, 200]])
    const perEndpoint = f.cp.callsPerEndpoint(s.id)
    process.stderr.write(`[fleet] cold burst of 200 over 2 replicas: ${JSON.stringify(perEndpoint)}\n`)
    const redisLines = f.gws.map((g, i) => g.lines().filter((l) => l.includes('redis')).map((l) => `replica ${i}: ${l}`)).flat()
    assert.deepEqual(perEndpoint, { public: 1, validate: 1, runner: 1, 'last-activity': 1 }, redisLines.join('\n'))
  })
})
