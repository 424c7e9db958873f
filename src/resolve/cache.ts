import { LRUCache } from 'lru-cache'
import { GatewayError } from '../errors/codes.js'

export type CacheResult = 'hit' | 'miss' | 'stale' | 'coalesced'

export interface AnswerCacheOptions<V> {
  readonly name: string
  readonly max: number
  /** TTL of a fresh answer, chosen by value (e.g. "valid" 2 min, "invalid" 5 s). */
  readonly ttlMs: (value: V) => number
  /** Runner lookups only: serve an expired entry while the control plane fails (SPEC §5). */
  readonly staleIfErrorMs?: number
  readonly now?: () => number
  readonly onLookup?: (cache: string, result: CacheResult) => void
  /** A tier shared by the fleet (Redis) under this one; absent: memory and the control plane only. */
  readonly shared?: SharedTier<V>
}

/** What a shared tier hands back: the answer and how long this process may keep it in memory. */
export interface SharedAnswer<V> {
  readonly value: V
  /** Cap on the in-memory lifetime (ms); Infinity when the local TTL applies unchanged. */
  readonly maxLocalMs: number
}

/**
 * A second tier under the in-memory one, shared by every replica (SPEC §9). On a local miss the
 * cache asks it instead of calling the control plane: it answers from the shared store, or waits
 * for another replica's call, or calls `call` itself. It never fails because of its own store.
 */
export interface SharedTier<V> {
  load(key: string, signal: AbortSignal, call: (signal: AbortSignal) => Promise<V>): Promise<SharedAnswer<V>>
  /** Deletes the shared answer (a runner that refused the sandbox: every replica looks again). */
  forget(key: string): void
}

interface Entry<V> {
  readonly value: V
  readonly freshUntil: number
}

/** Something that says when nobody waits any more: a ServerResponse or a socket ('close'). */
export interface Waiter {
  once(event: 'close', listener: () => void): unknown
  removeListener(event: 'close', listener: () => void): unknown
}

interface Flight<V> {
  readonly promise: Promise<V>
  readonly controller: AbortController
  waiters: number
}

/**
 * Control-plane answers in an lru-cache bounded in entries, plus our own in-flight Map so that
 * concurrent misses for a key make one call (lru-cache's fetch() resolves undefined on failure:
 * we want failures as errors, never cached). Keys are built by callers from hashes, never tokens.
 * When every waiter of a flight is gone, the call is aborted (SPEC §2).
 */
export class AnswerCache<V> {
  readonly name: string
  #lru: LRUCache<string, Entry<V>>
  #flights = new Map<string, Flight<V>>()
  #ttlMs: (value: V) => number
  #staleMs: number
  #now: () => number
  #onLookup: AnswerCacheOptions<V>['onLookup']
  #shared: SharedTier<V> | undefined

  constructor(options: AnswerCacheOptions<V>) {
    this.name = options.name
    this.#ttlMs = options.ttlMs
    this.#staleMs = options.staleIfErrorMs ?? 0
    this.#now = options.now ?? Date.now
    this.#onLookup = options.onLookup
    this.#shared = options.shared
    // No lru-cache TTL: each entry carries its own freshness (and stale-if-error window), read on
    // lookup; lru-cache's TTL tracking would read a second clock and arm a timer per millisecond
    // under load (seen in profiles). Expired entries are bounded by `max` like any other.
    this.#lru = new LRUCache<string, Entry<V>>({ max: options.max })
  }

  get size(): number {
    return this.#lru.size
  }

  /** A fresh cached answer, or undefined. Synchronous: the warm path awaits nothing. */
  peek(key: string): V | undefined {
    const v = this.fresh(key)
    if (v !== undefined) this.countHit()
    return v
  }

  /** peek() without counting the lookup: for a caller that may give up and look again (then countHit()). */
  fresh(key: string): V | undefined {
    const e = this.#lru.get(key)
    return e === undefined || e.freshUntil <= this.#now() ? undefined : e.value
  }

  /** Counts the hit of an answer read with fresh() and used. */
  countHit(): void {
    this.#onLookup?.(this.name, 'hit')
  }

  /** Is a fresh answer or a call in flight there? (No lookup is counted.) */
  isKnown(key: string): boolean {
    // lru peek: no reordering here; the request's own peek()/get() right after keeps it recent.
    const e = this.#lru.peek(key)
    return (e !== undefined && e.freshUntil > this.#now()) || this.#flights.has(key)
  }

  /** The answer for `key`: cached, joined to a call in flight, or loaded. */
  get(key: string, load: (signal: AbortSignal) => Promise<V>, waiter?: Waiter): Promise<V> {
    const cached = this.peek(key)
    if (cached !== undefined) return Promise.resolve(cached)
    let flight = this.#flights.get(key)
    if (flight !== undefined) this.#onLookup?.(this.name, 'coalesced')
    else {
      this.#onLookup?.(this.name, 'miss')
      flight = this.#start(key, load)
    }
    return this.#wait(key, flight, waiter)
  }

  #start(key: string, load: (signal: AbortSignal) => Promise<V>): Flight<V> {
    const controller = new AbortController()
    const kept = this.#staleMs > 0 ? this.#lru.get(key) : undefined
    const stale = kept !== undefined && kept.freshUntil + this.#staleMs > this.#now() ? kept : undefined
    const loaded: Promise<SharedAnswer<V>> = this.#shared === undefined
      ? load(controller.signal).then(local)
      : this.#shared.load(key, controller.signal, load)
    const promise = loaded.then(
      ({ value, maxLocalMs }) => {
        if (this.#flights.get(key) === flight) {
          this.#flights.delete(key)
          const ttl = Math.min(this.#ttlMs(value), maxLocalMs)
          if (ttl > 0) this.#lru.set(key, { value, freshUntil: this.#now() + ttl })
        }
        return value
      },
      (err: unknown) => {
        if (this.#flights.get(key) === flight) this.#flights.delete(key)
        // stale-if-error: only definite failures, never a cancelled call.
        if (stale !== undefined && !controller.signal.aborted && err instanceof GatewayError) {
          this.#onLookup?.(this.name, 'stale')
          return stale.value
        }
        throw err
      },
    )
    const flight: Flight<V> = { promise, controller, waiters: 0 }
    this.#flights.set(key, flight)
    return flight
  }

  #wait(key: string, flight: Flight<V>, waiter: Waiter | undefined): Promise<V> {
    flight.waiters++
    if (waiter === undefined) return flight.promise.finally(() => { flight.waiters-- })
    return new Promise<V>((resolve, reject) => {
      let settled = false
      const onGone = (): void => {
        if (settled) return
        settled = true
        if (--flight.waiters === 0) {
          // Nobody waits any more: cancel, and let the next request start afresh.
          if (this.#flights.get(key) === flight) this.#flights.delete(key)
          flight.controller.abort(new Error('client gone'))
        }
        reject(new Error('client gone'))
      }
      waiter.once('close', onGone)
      flight.promise.then(
        (v) => { if (settled) return; settled = true; waiter.removeListener('close', onGone); flight.waiters--; resolve(v) },
        (e: unknown) => { if (settled) return; settled = true; waiter.removeListener('close', onGone); flight.waiters--; reject(e) },
      )
    })
  }

  delete(key: string): void {
    this.#lru.delete(key)
  }

  /** Drops the answer here and in the shared tier. */
  forget(key: string): void {
    this.#lru.delete(key)
    this.#shared?.forget(key)
  }

  /** Drops every key for which `match` is true (invalidation by sandbox). */
  deleteWhere(match: (key: string) => boolean): void {
    for (const key of this.#lru.keys()) if (match(key)) this.#lru.delete(key)
  }

  clear(): void {
    this.#lru.clear()
  }
}

function local<V>(value: V): SharedAnswer<V> {
  return { value, maxLocalMs: Infinity }
}
