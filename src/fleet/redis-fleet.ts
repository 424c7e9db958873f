import { LRUCache } from 'lru-cache'
import { callBudgetMs, DEFAULT_RETRY } from '../control-plane/retry.js'
import type { Runner } from '../control-plane/types.js'
import type { Logger } from '../log.js'
import type { SharedTiers } from '../resolve/resolver.js'
import { AUTH_INDEX_PREFIX, PUBLIC_PREFIX, RUNNER_PREFIX, bearerCodec, previewTokenCodec, publicFlagCodec, runnerCodec, signedTokenCodec } from './answer-codecs.js'
import { FillNotices } from './fill-notices.js'
import type { FleetHooks } from './hooks.js'
import { RedisConnection, UNAVAILABLE, type RedisSettings } from './redis-connection.js'
import { FILLED_CHANNEL, SharedAnswers, type SharedResult } from './shared-answers.js'

/** Channel carrying sandbox ids whose cached answers every replica must drop. */
export const INVALIDATE_CHANNEL = 'pgw:invalidate'
const MAX_RELEASED = 10_000


export interface RedisFleetOptions {
  readonly settings: RedisSettings
  readonly log: Logger
  /** The session secret: runner keys are encrypted with a key derived from it. */
  readonly secret: string
  /** One control-plane try's timeout: the longest a replica waits for another's call. */
  readonly apiTimeoutMs: number
  /** Drops this process's cached answers for one sandbox. */
  readonly invalidateLocal: (sandboxId: string) => void
  /** Drops every cached answer here (notifications may have been missed). */
  readonly clearLocal: () => void
  readonly onState?: (up: boolean) => void
  readonly onSharedResult?: (cache: string, result: SharedResult) => void
}

/** Lease of a cold key; renewed by its holder, so a dead holder frees it within this. */
const LEASE_MS = 1500

/**
 * The fleet over one Redis: shared answers with fleet-wide coalescing, invalidation by pub/sub,
 * and one-time claims with SET NX. Redis is optional at every step: when it does not answer in
 * time, this process behaves as a LocalFleet would.
 */
export class RedisFleet implements FleetHooks {
  readonly shared: SharedTiers
  readonly #conn: RedisConnection
  readonly #invalidateLocal: (sandboxId: string) => void
  /**
   * Claims also kept here. When Redis does not answer, a claim is decided by this process alone:
   * SPEC §9 says Redis never fails a request, and a one-time login ticket is signed, bound to its
   * preview host and port, and lives 60 s, so the only loss during an outage is that a stolen
   * ticket URL could be replayed on another replica within that minute (fail-closed would instead
   * break every login during the outage).
   */
  readonly #claims = new LRUCache<string, true>({ max: 100_000, ttl: 1, ttlAutopurge: false })
  /** Claims given back while Redis could not be told for sure (bounded: MAX_RELEASED). */
  readonly #released = new Set<string>()

  constructor(o: RedisFleetOptions) {
    this.#invalidateLocal = o.invalidateLocal
    const notices = new FillNotices()
    this.#conn = new RedisConnection({
      settings: o.settings,
      log: o.log,
      ...(o.onState === undefined ? {} : { onState: o.onState }),
      onMessage: (channel, message) => {
        if (channel === FILLED_CHANNEL) notices.notify(message)
        else if (channel === INVALIDATE_CHANNEL && message.length > 0 && message.length <= 256) o.invalidateLocal(message)
      },
      onResubscribed: () => o.clearLocal(),
      // Answers cached during the outage were kept for their full TTL: drop them so that the
      // reference keys' DEL is honoured within 1 s again from now on.
      // Before anything else is sent on the new connection (connection.ts calls this first).
      onRecovered: () => { o.clearLocal(); this.#deleteReleased() },
    })
    // A waiter calls on its own only once the holder has failed (SPEC §9): it waits out the holder's
    // whole budget, retries included (a holder still retrying has not failed).
    const waitMs = callBudgetMs(DEFAULT_RETRY, o.apiTimeoutMs)
    const opts = { leaseMs: LEASE_MS, waitMs, ...(o.onSharedResult === undefined ? {} : { onResult: o.onSharedResult }) }
    this.shared = {
      publicFlags: new SharedAnswers(this.#conn, notices, publicFlagCodec, opts),
      tokens: new SharedAnswers(this.#conn, notices, previewTokenCodec, opts),
      access: new SharedAnswers(this.#conn, notices, bearerCodec, opts),
      signedTokens: new SharedAnswers(this.#conn, notices, signedTokenCodec, opts),
      runners: new SharedAnswers(this.#conn, notices, runnerCodec(o.secret), opts),
    }
    this.#conn.start([FILLED_CHANNEL, INVALIDATE_CHANNEL])
  }

  get up(): boolean { return this.#conn.up }

  /** Here at once; in Redis (the reference keys and our auth answers); everywhere by pub/sub. */
  invalidateSandbox(sandboxId: string): Promise<boolean> {
    this.#invalidateLocal(sandboxId)
    return this.#dropShared(sandboxId)
  }

  async #dropShared(sandboxId: string): Promise<boolean> {
    const index = AUTH_INDEX_PREFIX + sandboxId
    const members = await this.#conn.run((c) => c.sMembers(index))
    if (members === UNAVAILABLE) return false
    const keys = [PUBLIC_PREFIX + sandboxId, RUNNER_PREFIX + sandboxId, index, ...members]
    // Deleted before the notice goes out, so no replica refills its memory from the old answer.
    return (await this.#conn.run((c) => c.multi().del(keys).publish(INVALIDATE_CHANNEL, sandboxId).exec())) !== UNAVAILABLE
  }

  /**
   * Deleted now and again once Redis is back: a paused Redis runs the claim's SET NX it had
   * buffered only when it resumes, and that key would make the sender's retry a "duplicate".
   */
  releaseClaim(key: string): void {
    this.#claims.delete(key)
    if (this.#released.size < MAX_RELEASED) this.#released.add(`pgw:once:${key}`)
    this.#deleteReleased()
  }

  #deleteReleased(): void {
    if (this.#released.size === 0) return
    const keys = [...this.#released]
    void this.#conn.run((c) => c.del(keys)).then((r) => { if (r !== UNAVAILABLE) for (const k of keys) this.#released.delete(k) })
  }

  async claimOnce(key: string, ttlSec: number): Promise<boolean> {
    if (this.#claims.has(key)) return false
    this.#claims.set(key, true, { ttl: ttlSec * 1000 })
    const r = await this.#conn.runPatient((c) => c.set(`pgw:once:${key}`, '1', { condition: 'NX', expiration: { type: 'EX', value: ttlSec } }))
    if (r === UNAVAILABLE) return true
    return r === 'OK'
  }

  close(): Promise<void> {
    return this.#conn.close()
  }
}
