// fleet/ owns what replicas and workers share: invalidation and claim-once (hooks.ts), and the
// Redis tier behind them (SPEC §9: shared answers, leases, pub/sub).
import { LRUCache } from 'lru-cache'

/**
 * What the rest of the gateway asks of the fleet (other replicas and workers). The local
 * implementation below serves one process; the Redis tier (SPEC §9) provides the same interface
 * for a fleet, so callers never know which one they hold.
 */
export interface FleetHooks {
  /**
   * Drop every cached answer about this sandbox here and on every other replica and worker.
   * Resolves false when the other replicas could not be reached (Redis unavailable): dropped here only.
   */
  invalidateSandbox(sandboxId: string): Promise<boolean>
  /** True the first time `key` is claimed across the fleet within `ttlSec` (one-time tickets, webhook ids). */
  claimOnce(key: string, ttlSec: number): Promise<boolean>
  /** Gives a claim back: what it stood for did not happen (a webhook the fleet could not hear), so a retry is new. */
  releaseClaim(key: string): void
}

/** One process: invalidation is local, claims live in a bounded in-memory map. */
export class LocalFleet implements FleetHooks {
  #invalidate: (sandboxId: string) => void
  #claims = new LRUCache<string, true>({ max: 100_000, ttl: 1, ttlAutopurge: false })

  constructor(invalidate: (sandboxId: string) => void) {
    this.#invalidate = invalidate
  }

  invalidateSandbox(sandboxId: string): Promise<boolean> {
    this.#invalidate(sandboxId)
    return Promise.resolve(true)
  }

  claimOnce(key: string, ttlSec: number): Promise<boolean> {
    if (this.#claims.has(key)) return Promise.resolve(false)
    this.#claims.set(key, true, { ttl: ttlSec * 1000 })
    return Promise.resolve(true)
  }

  releaseClaim(key: string): void {
    this.#claims.delete(key)
  }
}
