import { test } from 'node:test'
import assert from 'node:assert/strict'
import { EventEmitter } from 'node:events'
import { AnswerCache } from '../../src/resolve/cache.js'
import { GatewayError } from '../../src/errors/codes.js'

function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: unknown) => void } {
  let resolve!: (v: T) => void
  let reject!: (e: unknown) => void
  const promise = new Promise<T>((res, rej) => { resolve = res; reject = rej })
  return { promise, resolve, reject }
}

test('SPEC §5: concurrent misses make one call; answers cached for their TTL', { timeout: 5000 }, async () => {
  let now = 1000
  const c = new AnswerCache<boolean>({ name: 't', max: 10, ttlMs: (v) => (v ? 120_000 : 5_000), now: () => now })
  const d = deferred<boolean>()
  let calls = 0
  const load = (): Promise<boolean> => { calls++; return d.promise }
  const all = Array.from({ length: 200 }, () => c.get('k', load))
  d.resolve(true)
  assert.deepEqual(new Set(await Promise.all(all)), new Set([true]))
  assert.equal(calls, 1)
  assert.equal(c.peek('k'), true)
  now += 119_000
  assert.equal(c.peek('k'), true)
  now += 2_000
  assert.equal(c.peek('k'), undefined)
})

test('failures are thrown to every waiter and never cached', { timeout: 5000 }, async () => {
  const c = new AnswerCache<boolean>({ name: 't', max: 10, ttlMs: () => 1000 })
  let calls = 0
  const load = async (): Promise<boolean> => { calls++; throw new GatewayError('CONTROL_PLANE_UNAVAILABLE') }
  await assert.rejects(Promise.all([c.get('k', load), c.get('k', load)]), GatewayError)
  assert.equal(calls, 1)
  await assert.rejects(c.get('k', load), GatewayError)
  assert.equal(calls, 2)
})

test('stale-if-error serves an expired entry only when configured', { timeout: 5000 }, async () => {
  let now = 0
  const c = new AnswerCache<string>({ name: 'runner', max: 10, ttlMs: () => 100, staleIfErrorMs: 10_000, now: () => now })
  assert.equal(await c.get('k', async () => 'r1'), 'r1')
  now = 500
  assert.equal(await c.get('k', async () => { throw new GatewayError('CONTROL_PLANE_UNAVAILABLE') }), 'r1')
  const strict = new AnswerCache<string>({ name: 'auth', max: 10, ttlMs: () => 100, now: () => now })
  await strict.get('k', async () => 'yes')
  now = 1000
  await assert.rejects(strict.get('k', async () => { throw new GatewayError('CONTROL_PLANE_UNAVAILABLE') }))
})

test('SPEC §2: the call is aborted when every waiter is gone', { timeout: 5000 }, async () => {
  const c = new AnswerCache<boolean>({ name: 't', max: 10, ttlMs: () => 1000 })
  const a = new EventEmitter()
  const b = new EventEmitter()
  let signal: AbortSignal | undefined
  const load = (s: AbortSignal): Promise<boolean> => { signal = s; return new Promise(() => undefined) }
  const pa = c.get('k', load, a)
  const pb = c.get('k', load, b)
  a.emit('close')
  await assert.rejects(pa)
  assert.equal(signal?.aborted, false)
  b.emit('close')
  await assert.rejects(pb)
  assert.equal(signal?.aborted, true)
})

test('bounded in entries', { timeout: 5000 }, async () => {
  const c = new AnswerCache<number>({ name: 't', max: 100, ttlMs: () => 60_000 })
  for (let i = 0; i < 1000; i++) await c.get(`k${i}`, async () => i)
  assert.equal(c.size, 100)
})
