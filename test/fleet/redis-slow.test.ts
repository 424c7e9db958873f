/**
 * SPEC §9: a Redis that answers, but slower than REDIS_COMMAND_TIMEOUT_MS, is no better than none:
 * the gateway serves from memory and the control plane, and its requests do not pay Redis's delay
 * (a late PING must not bring it back up, only to time out the next request again).
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import net from 'node:net'
import { ensureRedisServer } from './support/redis-server.js'
import { startFleet } from './support/fleet.js'
import type { Fleet } from './support/fleet.js'

const skip = await ensureRedisServer()

/** A TCP relay to Redis whose replies can be held back by `delayMs`, in order. */
async function delayingRelay(target: number): Promise<{ port: number; delayMs: number; close(): void }> {
  const sockets = new Set<net.Socket>()
  const relay = {
    port: 0,
    delayMs: 0,
    close(): void { for (const s of sockets) s.destroy(); server.close() },
  }
  const server = net.createServer((client) => {
    const upstream = net.connect(target, '127.0.0.1')
    sockets.add(client).add(upstream)
    client.on('error', () => upstream.destroy())
    upstream.on('error', () => client.destroy())
    client.on('close', () => upstream.destroy())
    upstream.on('close', () => client.destroy())
    client.pipe(upstream)
    let last = 0
    upstream.on('data', (d: Buffer) => {
      // Each reply leaves `delayMs` after it came, never before the one in front of it.
      const at = Math.max(Date.now() + relay.delayMs, last)
      last = at
      setTimeout(() => { if (!client.destroyed) client.write(d) }, at - Date.now())
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  relay.port = (server.address() as net.AddressInfo).port
  return relay
}

describe('fleet: a slow Redis (SPEC §9)', { skip: skip ?? false, timeout: 90_000 }, () => {
  let f: Fleet
  let relay: Awaited<ReturnType<typeof delayingRelay>> | undefined
  before(async () => {
    f = await startFleet({
      replicas: 1,
      perReplica: async (_i, redis) => {
        relay = await delayingRelay(redis.port)
        return { REDIS_PORT: String(relay.port), REDIS_COMMAND_TIMEOUT_MS: '100' }
      },
    })
  }, { timeout: 60_000 })
  after(async () => { relay?.close(); await f?.close() }, { timeout: 30_000 })

  test('Redis answering 400 ms late: after the first second, requests are served at memory speed, all 200', { timeout: 60_000 }, async () => {
    const s = f.sandbox({ public: true })
    const host = f.host(3000, s.id)
    for (let k = 0; k < 3; k++) assert.equal((await f.send(0, host, '/echo')).status, 200)
    assert.ok(relay !== undefined)
    relay.delayMs = 400
    const t0 = Date.now()
    const late: number[] = []
    let count = 0
    while (Date.now() - t0 < 5000) {
      const started = Date.now()
      const r = await f.send(0, host, `/echo?k=${count++}`)
      assert.equal(r.status, 200, `request ${count}`)
      if (started - t0 > 1500) late.push(Date.now() - started)
    }
    relay.delayMs = 0
    late.sort((a, b) => a - b)
    const p50 = late[Math.floor(late.length / 2)] ?? Number.NaN
    const p99 = late[Math.floor(late.length * 0.99)] ?? Number.NaN
    process.stderr.write(`[fleet] slow Redis (400 ms): ${late.length} requests after 1.5 s, p50 ${p50} ms, p99 ${p99} ms, max ${late[late.length - 1]} ms\n`)
    assert.ok(late.length >= 20, `too few requests (${late.length}): each paid Redis's delay`)
    // Before: a late PING brought Redis "back" twice a second, and the next shared-cache read waited it out.
    assert.ok(p99 < 150, `p99 ${p99} ms: requests still wait for a slow Redis`)
  })
})
