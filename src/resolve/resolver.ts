// resolve/ owns the control plane's answers on the request path: cached and coalesced
// (resolver.ts over cache.ts), plus the last-activity reports (activity.ts).
import { hash } from 'node:crypto'
import type { ControlPlane, Runner } from '../control-plane/types.js'
import { AnswerCache, type CacheResult, type SharedTier, type Waiter } from './cache.js'

/** SPEC §5 TTLs (ms). Public flags change within 30 s; auth "no" is cached ≥ 2 s. */
export const TTL = Object.freeze({
  publicFlag: 20_000,
  authValid: 120_000,
  authInvalid: 5_000,
  /** Signed token → id: with the 30 s session of a token host, a revoked link dies within 60 s. */
  signedToken: 30_000,
  signedTokenInvalid: 5_000,
  runner: 120_000,
  runnerStaleIfError: 600_000,
  runnerNotFound: 5_000,
})

/**
 * The digest every cache key uses in place of a token (SPEC §5: keys hold hashes). One-shot
 * crypto.hash: half the cost of createHash().update().digest() (no Hash object per request).
 */
export function hashToken(token: string): string {
  return hash('sha256', token, 'base64url')
}

/**
 * A keep-alive client sends the same token on every request: one per connection is hashed once.
 * Lives on the connection (which holds the token's bytes anyway), so no token outlives its socket.
 */
export class ConnectionDigests {
  // Two entries: a request may carry a bearer and a preview token at once.
  #a: string | undefined
  #aDigest = ''
  #b: string | undefined
  #bDigest = ''

  of(token: string): string {
    if (token === this.#a) return this.#aDigest
    if (token === this.#b) return this.#bDigest
    this.#b = this.#a
    this.#bDigest = this.#aDigest
    this.#a = token
    this.#aDigest = hashToken(token)
    return this.#aDigest
  }
}

export interface ResolverOptions {
  readonly controlPlane: ControlPlane
  readonly maxEntries: number
  readonly now?: () => number
  readonly onLookup?: (cache: string, result: CacheResult) => void
  /** Redis tiers under the in-memory caches (SPEC §9); absent without REDIS_HOST. */
  readonly shared?: SharedTiers
}

/** The Redis tier of each resolver cache (SPEC §9). */
export interface SharedTiers {
  readonly publicFlags: SharedTier<boolean>
  readonly tokens: SharedTier<boolean>
  readonly access: SharedTier<boolean>
  readonly signedTokens: SharedTier<string | null>
  readonly runners: SharedTier<Runner | null>
}

/**
 * Control-plane answers, cached and coalesced. Each method has a synchronous `peek*` twin so the
 * warm path awaits nothing. Auth answers are never served stale; runners are (stale-if-error).
 */
export class Resolver {
  readonly #cp: ControlPlane
  readonly publicFlags: AnswerCache<boolean>
  readonly tokens: AnswerCache<boolean>
  readonly access: AnswerCache<boolean>
  readonly signedTokens: AnswerCache<string | null>
  readonly runners: AnswerCache<Runner | null>

  constructor(options: ResolverOptions) {
    this.#cp = options.controlPlane
    const base = { max: options.maxEntries, ...(options.now ? { now: options.now } : {}), ...(options.onLookup ? { onLookup: options.onLookup } : {}) }
    const authTtl = (ok: boolean): number => (ok ? TTL.authValid : TTL.authInvalid)
    const sh = options.shared
    this.publicFlags = new AnswerCache<boolean>({ ...base, name: 'public', ttlMs: () => TTL.publicFlag, ...(sh ? { shared: sh.publicFlags } : {}) })
    this.tokens = new AnswerCache<boolean>({ ...base, name: 'preview_token', ttlMs: authTtl, ...(sh ? { shared: sh.tokens } : {}) })
    this.access = new AnswerCache<boolean>({ ...base, name: 'bearer', ttlMs: authTtl, ...(sh ? { shared: sh.access } : {}) })
    this.signedTokens = new AnswerCache<string | null>({ ...base, name: 'signed_token', ttlMs: (id) => (id === null ? TTL.signedTokenInvalid : TTL.signedToken), ...(sh ? { shared: sh.signedTokens } : {}) })
    this.runners = new AnswerCache<Runner | null>({ ...base, name: 'runner', ttlMs: (r) => (r === null ? TTL.runnerNotFound : TTL.runner), staleIfErrorMs: TTL.runnerStaleIfError, ...(sh ? { shared: sh.runners } : {}) })
    options.controlPlane.onChange?.((id) => (id === null ? this.clear() : this.invalidateSandbox(id)))
  }

  isPublic(id: string, waiter?: Waiter): Promise<boolean> {
    return this.publicFlags.get(id, (s) => this.#cp.isPublic(id, s), waiter)
  }

  /** `digest` is hashToken(token), computed once per request by the caller. */
  validatePreviewToken(id: string, token: string, digest: string, waiter?: Waiter): Promise<boolean> {
    return this.tokens.get(`${id}\0${digest}`, (s) => this.#cp.validatePreviewToken(id, token, s), waiter)
  }

  hasAccess(id: string, bearer: string, digest: string, waiter?: Waiter): Promise<boolean> {
    return this.access.get(`${id}\0${digest}`, (s) => this.#cp.hasAccess(id, bearer, s), waiter)
  }

  sandboxIdFromSignedToken(token: string, port: number, waiter?: Waiter): Promise<string | null> {
    return this.signedTokens.get(`${port}\0${hashToken(token)}`, (s) => this.#cp.sandboxIdFromSignedToken(token, port, s), waiter)
  }

  runner(id: string, waiter?: Waiter): Promise<Runner | null> {
    return this.runners.get(id, (s) => this.#cp.runnerBySandbox(id, s), waiter)
  }

  /** SPEC §5: the runner refused the sandbox or its connection: look it up again next time. */
  dropRunner(id: string): void {
    this.runners.forget(id)
  }

  /** The invalidation entry point per sandbox (webhooks and Redis pub/sub plug in here later). */
  invalidateSandbox(id: string): void {
    this.publicFlags.delete(id)
    this.runners.delete(id)
    const prefix = `${id}\0`
    this.tokens.deleteWhere((k) => k.startsWith(prefix))
    this.access.deleteWhere((k) => k.startsWith(prefix))
  }

  clear(): void {
    this.publicFlags.clear()
    this.tokens.clear()
    this.access.clear()
    this.signedTokens.clear()
    this.runners.clear()
  }
}
