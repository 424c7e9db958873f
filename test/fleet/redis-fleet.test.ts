/**
 * RedisFleet in process, two instances on one real redis-server (two "replicas"): invalidation
 * by pub/sub and key deletion, one-time claims, the shared tier's lease, the encrypted runner
 * value, and what happens with no Redis at all. Plus the start-up error without a secret.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { Writable } from 'node:stream'
import { createLogger } from '../../src/log.js'
import { RedisFleet } from '../../src/fleet/redis-fleet.js'
import { runnerCodec } from '../../src/fleet/answer-codecs.js'
import { runGatewayToExit } from '../helpers/gateway.js'
import { ConfigError, loadConfig } from '../../src/config/load.js'
import { freePort, waitUntil } from '../helpers/http.js'
import { ensureRedisServer, RedisServer } from './support/redis-server.js'
import type { TestRedisClient } from './support/redis-server.js'

const skip = await ensureRedisServer()
const SECRET = 'redis-fleet-unit-secret-0123456789abcdef'

interface Replica {
  readonly fleet: RedisFleet
  readonly invalidated: string[]
  cleared: number
  readonly log: string[]
}

function replica(port: number): Replica {
  const log: string[] = []
  const sink = new Writable({ write(chunk: Buffer, _enc, cb) { log.push(chunk.toString()); cb() } })
  const r: Replica = {
    invalidated: [],
    cleared: 0,
    log,
    fleet: undefined as unknown as RedisFleet,
  }
  const fleet = new RedisFleet({
    settings: { host: '127.0.0.1', port, tls: false },
    log: createLogger('info', sink),
    secret: SECRET,
    apiTimeoutMs: 2000,
    invalidateLocal: (id) => r.invalidated.push(id),
    clearLocal: () => { r.cleared++ },
  })
  return Object.assign(r, { fleet })
}

describe('fleet: RedisFleet (SPEC §9)', { skip: skip ?? false, timeout: 60_000 }, () => {
  let redis: RedisServer
  let rc: TestRedisClient
  let a: Replica
  let b: Replica
  before(async () => {
    redis = await RedisServer.start()
    rc = await redis.client()
    a = replica(redis.port)
    b = replica(redis.port)
    await waitUntil(() => a.fleet.up && b.fleet.up, { timeoutMs: 5000, message: 'both replicas connected' })
  }, { timeout: 30_000 })
  after(async () => {
    await a?.fleet.close()
    await b?.fleet.close()
    await redis?.close()
  })

  test('invalidateSandbox: here at once, shared keys deleted, every replica told within 1 s', { timeout: 10_000 }, async () => {
    await rc.set('proxy:sandbox-public:sbx-inv', '{"value":true}')
    await rc.set('proxy:sandbox-runner-info:sbx-inv', '{"value":null}')
    await rc.set('pgw:preview-token:sbx-inv:digest1', '{"value":true}')
    await rc.sAdd('pgw:sandbox-auth:sbx-inv', 'pgw:preview-token:sbx-inv:digest1')
    const t0 = Date.now()
    a.fleet.invalidateSandbox('sbx-inv')
    assert.deepEqual(a.invalidated, ['sbx-inv'], 'local invalidation is synchronous')
    await waitUntil(() => b.invalidated.includes('sbx-inv'), { timeoutMs: 1000, intervalMs: 5, message: 'replica B invalidated' })
    process.stderr.write(`[fleet] invalidation reached the other replica in ${Date.now() - t0} ms\n`)
    assert.equal(await rc.exists(['proxy:sandbox-public:sbx-inv', 'proxy:sandbox-runner-info:sbx-inv', 'pgw:preview-token:sbx-inv:digest1', 'pgw:sandbox-auth:sbx-inv']), 0)
  })

  test('claimOnce: true once across replicas, with a TTL', { timeout: 10_000 }, async () => {
    assert.equal(await a.fleet.claimOnce('ticket:j1', 60), true)
    assert.equal(await b.fleet.claimOnce('ticket:j1', 60), false)
    assert.equal(await a.fleet.claimOnce('ticket:j1', 60), false)
    assert.equal(await b.fleet.claimOnce('ticket:j2', 60), true)
    const ttl = await rc.ttl('pgw:once:ticket:j1')
    assert.ok(ttl > 0 && ttl <= 60, `claim TTL ${ttl}`)
  })

  test('shared tier: concurrent misses on two replicas make one call; the value is shared', { timeout: 10_000 }, async () => {
    let calls = 0
    const call = async (): Promise<boolean> => { calls++; await new Promise<void>((r) => setTimeout(r, 100)); return true }
    const signal = new AbortController().signal
    const [x, y] = await Promise.all([a.fleet.shared.publicFlags.load('sbx-lease', signal, call), b.fleet.shared.publicFlags.load('sbx-lease', signal, call)])
    assert.equal(calls, 1)
    assert.equal(x.value, true)
    assert.equal(y.value, true)
    assert.ok(x.maxLocalMs <= 1000 && y.maxLocalMs <= 1000, 'reference keys live ≤ 1 s in memory while Redis is up')
    assert.equal(await rc.get('proxy:sandbox-public:sbx-lease'), '{"value":true}')
  })

  test('shared tier: a holder that fails frees the key; the waiter calls itself', { timeout: 10_000 }, async () => {
    let calls = 0
    // The holder fails when the test says so: its lease is held until then, however slow the machine.
    let fail!: () => void
    const gate = new Promise<void>((r) => { fail = r })
    const failing = async (): Promise<boolean> => { calls++; await gate; throw new Error('api down') }
    const working = async (): Promise<boolean> => { calls++; return false }
    const signal = new AbortController().signal
    const first = a.fleet.shared.publicFlags.load('sbx-fail', signal, failing)
    await waitUntil(async () => (await rc.exists('pgw:lease:proxy:sandbox-public:sbx-fail')) === 1, { timeoutMs: 5000, intervalMs: 5 })
    const second = b.fleet.shared.publicFlags.load('sbx-fail', signal, working)
    fail()
    await assert.rejects(first, /api down/)
    assert.equal((await second).value, false)
    assert.equal(calls, 2)
  })

  test('runner value: reference shape, apiKey sealed; another secret cannot read it; a plain one is read', () => {
    const c = runnerCodec(SECRET)
    const text = c.encode({ id: 'r1', proxyUrl: 'http://127.0.0.1:9', apiKey: 'runner-key-in-clear' })
    assert.ok(text !== undefined && !text.includes('runner-key-in-clear'))
    assert.deepEqual(c.decode(text)?.value, { id: 'r1', proxyUrl: 'http://127.0.0.1:9', apiKey: 'runner-key-in-clear' })
    assert.equal(runnerCodec('another-secret-0123456789abcdef0123456789').decode(text), undefined)
    assert.deepEqual(c.decode('{"value":{"apiUrl":"http://x","apiKey":"plain"}}')?.value, { proxyUrl: 'http://x', apiKey: 'plain' })
    assert.equal(c.encode({ proxyUrl: '', apiKey: '', upstreams: { 3000: 'http://127.0.0.1:1' } }), undefined, 'embedded upstreams are not shared')
  })

  test('no Redis at all: claims and loads answer at once from this process; one warning', { timeout: 10_000 }, async () => {
    const down = replica(await freePort())
    try {
      const t = Date.now()
      assert.equal(await down.fleet.claimOnce('k', 10), true)
      assert.equal(await down.fleet.claimOnce('k', 10), false, 'still one-time within this process')
      const v = await down.fleet.shared.publicFlags.load('sbx-x', new AbortController().signal, () => Promise.resolve(true))
      assert.deepEqual(v, { value: true, maxLocalMs: Infinity })
      assert.ok(Date.now() - t < 500, 'nothing waited for Redis')
      await waitUntil(() => down.log.some((l) => l.includes('redis unavailable')), { timeoutMs: 5000, message: 'outage warning' })
      await new Promise<void>((r) => setTimeout(r, 1500)) // reconnect attempts go on in the background
      assert.equal(down.log.filter((l) => l.includes('redis unavailable')).length, 1, 'one warning per outage')
    } finally {
      await down.fleet.close()
    }
  })
})

describe('fleet: configuration', { timeout: 30_000 }, () => {
  test('with REDIS_HOST the secret must come from configuration (SESSION_SECRET or PROXY_API_KEY)', () => {
    const problems = (env: Record<string, string>): string[] => {
      try { loadConfig(env); return [] } catch (err) { return err instanceof ConfigError ? [...err.problems] : [String(err)] }
    }
    assert.match(problems({ REDIS_HOST: '127.0.0.1' }).join('\n'), /^SESSION_SECRET: required when REDIS_HOST is set/m)
    const ok = loadConfig({ REDIS_HOST: '127.0.0.1', DAYTONA_API_URL: 'http://127.0.0.1:1', PROXY_API_KEY: 'k'.repeat(32) })
    assert.equal(ok.sessionSecret, 'k'.repeat(32))
    assert.deepEqual(ok.redis, { host: '127.0.0.1', port: 6379, tls: false, commandTimeoutMs: 100 })
    assert.equal(loadConfig({ REDIS_HOST: '127.0.0.1', SESSION_SECRET: SECRET }).sessionSecret, SECRET)
  })

  test('REDIS_HOST without a configured secret stops start-up with one line naming SESSION_SECRET', { timeout: 20_000 }, async () => {
    const r = await runGatewayToExit({ REDIS_HOST: '127.0.0.1' })
    assert.equal(r.timedOut, false)
    assert.equal(r.code, 2)
    const lines = r.output.split('\n').filter((l) => l.length > 0)
    assert.equal(lines.length, 1, r.output)
    assert.match(lines[0] ?? '', /^config error: SESSION_SECRET: required when REDIS_HOST is set/)
  })
})
