import { test } from 'node:test'
import assert from 'node:assert/strict'
import { HeaderDeadlines, type Expiring } from '../../src/forward/header-deadlines.js'

const T = { timeout: 10_000 }

/** An exchange stand-in that records when it expired. */
function waiter(): Expiring & { expiredAt: number | undefined; done: Promise<void> } {
  let resolve!: () => void
  const done = new Promise<void>((r) => { resolve = r })
  const w = { expiredAt: undefined as number | undefined, done, expire(): void { w.expiredAt = performance.now(); resolve() } }
  return w
}

function within<V>(p: Promise<V>, ms: number, what: string): Promise<V> {
  let timer: NodeJS.Timeout | undefined
  return Promise.race([p, new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`${what} not within ${ms} ms`)), ms) })]).finally(() => clearTimeout(timer))
}

test('an exchange not answered expires after the timeout on real timers, never before', T, async () => {
  const d = new HeaderDeadlines(200)
  const started = performance.now()
  const w = waiter()
  d.add(w)
  await within(w.done, 2000, 'expiry')
  const took = (w.expiredAt as number) - started
  // The one-tick bound is checked with an injected clock below; real timers on a loaded machine
  // only promise "not before, and not much later".
  assert.ok(took >= 199 && took < 1500, `expired after ${took.toFixed(1)} ms`)
  d.stop()
})

test('a cancelled ticket never expires; the others still do, in order', T, async () => {
  const d = new HeaderDeadlines(100)
  const order: string[] = []
  const mk = (name: string): Expiring & { done: Promise<void> } => {
    let resolve!: () => void
    const done = new Promise<void>((r) => { resolve = r })
    return { done, expire(): void { order.push(name); resolve() } }
  }
  const a = mk('a'), b = mk('b'), c = mk('c')
  d.add(a)
  const tb = d.add(b)
  d.add(c)
  d.cancel(tb)
  await within(Promise.all([a.done, c.done]), 2000, 'a and c')
  assert.deepEqual(order, ['a', 'c'])
  d.stop()
})

test('tickets stay valid across compaction of a long queue; nothing expires after a cancel', T, () => {
  let now = 0
  const d = new HeaderDeadlines(1000, () => now)
  const expired: string[] = []
  const named = (name: string): Expiring => ({ expire(): void { expired.push(name) } })
  d.add(named('first'))
  // Thousands answered in time behind a slow first one…
  for (let i = 0; i < 3000; i++) d.cancel(d.add(named(`answered ${i}`)))
  now = 500
  const late = d.add(named('late'))
  // …are dropped when the first expires; the sweep stops at `late` (not due) and compacts the queue.
  now = 1000
  d.sweep()
  assert.deepEqual(expired, ['first'])
  d.cancel(late) // a ticket from before the compaction still cancels
  const fresh = d.add(named('fresh'))
  now = 5000
  d.sweep()
  assert.deepEqual(expired, ['first', 'fresh'], 'the cancelled late entry never expired; one added after compaction did')
  d.cancel(fresh) // an expired ticket is a no-op
  d.stop()
})

test('with an injected clock: due exactly at the timeout, not a millisecond before', T, () => {
  let now = 10_000
  const d = new HeaderDeadlines(200, () => now)
  const expired: string[] = []
  d.add({ expire(): void { expired.push('a') } })
  now += 199
  d.sweep()
  assert.deepEqual(expired, [], 'not before the timeout')
  now += 1
  d.sweep()
  assert.deepEqual(expired, ['a'], 'due at the timeout')
  d.stop()
})
