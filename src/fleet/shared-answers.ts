import { randomBytes } from 'node:crypto'
import type { SharedAnswer, SharedTier } from '../resolve/cache.js'
import type { FillNotices } from './fill-notices.js'
import { UNAVAILABLE, type RedisConnection } from './redis-connection.js'

/** Channel on which a lease holder says "key filled (or given up): look again". */
export const FILLED_CHANNEL = 'pgw:filled'

/** How one cache's answers live in Redis. */
export interface AnswerCodec<V> {
  readonly cache: string
  /** The Redis key of an in-memory key (hashes only, never a token). */
  redisKey(localKey: string): string
  /** The stored text, or undefined when this answer is not shared. */
  encode(value: V): string | undefined
  /** The answer, or undefined when the text is unusable (treated as a miss). */
  decode(text: string): { readonly value: V } | undefined
  /** Lifetime in Redis (ms); ≤ 0: not stored. */
  ttlMs(value: V): number
  /** In-memory lifetime cap while Redis is up: keys the Daytona API deletes must be re-read often. */
  readonly localCapMs: number
  /** A set listing this entry under its sandbox, so invalidation can delete it (auth answers). */
  indexKey?(localKey: string): string | undefined
}

export type SharedResult = 'hit' | 'miss' | 'waited' | 'fallback'

export interface SharedAnswersOptions {
  /** Lease lifetime; the holder renews it while its call runs, so a dead holder frees it this fast. */
  readonly leaseMs: number
  /** Longest a replica waits for another's call before calling itself (≤ the control-plane budget). */
  readonly waitMs: number
  readonly onResult?: (cache: string, result: SharedResult) => void
}

const INDEX_TTL_MS = 10 * 60_000

/**
 * The Redis tier of one answer cache, with fleet-wide coalescing: on a miss in Redis a replica
 * takes a short lease (SET NX PX) for the key and calls the control plane; the others wait for
 * the fill notice (pub/sub, with polling as a fallback) and read the answer from Redis. A holder
 * that fails releases the lease; one that dies stops renewing it, and it expires. Redis being
 * unavailable at any step means: call the control plane directly.
 */
export class SharedAnswers<V> implements SharedTier<V> {
  readonly #conn: RedisConnection
  readonly #notices: FillNotices
  readonly #codec: AnswerCodec<V>
  readonly #o: SharedAnswersOptions

  constructor(conn: RedisConnection, notices: FillNotices, codec: AnswerCodec<V>, options: SharedAnswersOptions) {
    this.#conn = conn
    this.#notices = notices
    this.#codec = codec
    this.#o = options
  }

  async load(key: string, signal: AbortSignal, call: (signal: AbortSignal) => Promise<V>): Promise<SharedAnswer<V>> {
    const rkey = this.#codec.redisKey(key)
    const first = await this.#read(rkey)
    if (first === UNAVAILABLE) return this.#direct(signal, call)
    if (first !== undefined) { this.#o.onResult?.(this.#codec.cache, 'hit'); return this.#answer(first.value, first.leftMs) }
    const leaseKey = `pgw:lease:${rkey}`
    const deadline = Date.now() + this.#o.waitMs
    let delay = 10
    let waited = false
    for (;;) {
      const token = randomBytes(9).toString('base64url')
      // Read and take the lease in one transaction: a holder that filled the key and freed the
      // lease between a separate GET and SET NX would otherwise be followed by a second call.
      const both = await this.#conn.runPatient((c) => c.multi().get(rkey).pTTL(rkey).set(leaseKey, token, { condition: 'NX', expiration: { type: 'PX', value: this.#o.leaseMs } }).exec())
      if (both === UNAVAILABLE) return this.#direct(signal, call)
      const [text, leftMs, lease] = both as readonly unknown[]
      const found = typeof text === 'string' ? this.#codec.decode(text) : undefined
      if (found !== undefined) {
        if (lease === 'OK') void this.#conn.run((c) => c.del(leaseKey))
        this.#o.onResult?.(this.#codec.cache, waited ? 'waited' : 'hit')
        return this.#answer(found.value, leftMs)
      }
      if (lease === 'OK') return this.#hold(key, rkey, leaseKey, signal, call)
      signal.throwIfAborted()
      const left = deadline - Date.now()
      if (left <= 0) return this.#direct(signal, call)
      waited = true
      await this.#notices.wait(rkey, Math.min(delay, left), signal)
      signal.throwIfAborted()
      delay = Math.min(delay * 2, 100)
    }
  }

  forget(key: string): void {
    const rkey = this.#codec.redisKey(key)
    void this.#conn.run((c) => c.del(rkey))
  }

  async #read(rkey: string): Promise<{ readonly value: V; readonly leftMs: unknown } | undefined | typeof UNAVAILABLE> {
    const both = await this.#conn.runPatient((c) => c.multi().get(rkey).pTTL(rkey).exec())
    if (both === UNAVAILABLE) return UNAVAILABLE
    const [text, leftMs] = both as readonly unknown[]
    const found = typeof text === 'string' ? this.#codec.decode(text) : undefined
    return found === undefined ? undefined : { value: found.value, leftMs }
  }

  /**
   * An answer read from Redis lives in memory no longer than its key has left there: a replica that
   * reads it late must not start a fresh full TTL (a revoked token would outlive SPEC §5's bound).
   * Keys without an expiry (the Daytona API's own, which it deletes) report -1: the cap alone applies.
   */
  #answer(value: V, leftMs?: unknown): SharedAnswer<V> {
    const cap = this.#conn.up ? this.#codec.localCapMs : Infinity
    return { value, maxLocalMs: typeof leftMs === 'number' && leftMs > 0 ? Math.min(cap, leftMs) : cap }
  }

  async #direct(signal: AbortSignal, call: (signal: AbortSignal) => Promise<V>): Promise<SharedAnswer<V>> {
    this.#o.onResult?.(this.#codec.cache, 'fallback')
    return this.#answer(await call(signal))
  }

  async #hold(key: string, rkey: string, leaseKey: string, signal: AbortSignal, call: (signal: AbortSignal) => Promise<V>): Promise<SharedAnswer<V>> {
    this.#o.onResult?.(this.#codec.cache, 'miss')
    const renew = setInterval(() => { void this.#conn.run((c) => c.pExpire(leaseKey, this.#o.leaseMs)) }, Math.max(50, Math.floor(this.#o.leaseMs / 3)))
    renew.unref()
    let value: V
    try {
      value = await call(signal)
    } catch (err) {
      clearInterval(renew)
      // Failed or cancelled: free the key at once so a waiter calls instead of waiting out the lease.
      void this.#conn.run((c) => c.multi().del(leaseKey).publish(FILLED_CHANNEL, rkey).exec())
      throw err
    }
    clearInterval(renew)
    const text = this.#codec.encode(value)
    const ttl = this.#codec.ttlMs(value)
    const index = this.#codec.indexKey?.(key)
    // Not awaited: the request goes on while the answer is stored and announced.
    void this.#conn.run((c) => {
      const m = c.multi()
      if (text !== undefined && ttl > 0) {
        m.set(rkey, text, { expiration: { type: 'PX', value: ttl } })
        if (index !== undefined) m.sAdd(index, rkey).pExpire(index, INDEX_TTL_MS)
      }
      return m.del(leaseKey).publish(FILLED_CHANNEL, rkey).exec()
    })
    return this.#answer(value)
  }
}
