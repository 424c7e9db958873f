import type { ControlPlane, UserSandboxAnswer } from '../control-plane/types.js'
import { AnswerCache, type CacheResult, type Waiter } from './cache.js'
import { hashToken } from './resolver.js'

/** A refusal is re-asked at most this often per sandbox and bearer. */
const TTL_MS = 5_000

export interface SandboxLookupOptions {
  readonly controlPlane: ControlPlane
  readonly maxEntries: number
  readonly onLookup?: (cache: string, result: CacheResult) => void
}

/**
 * SPEC §10 `SANDBOX_NOT_FOUND`: when a toolbox request's bearer was refused, is that because the
 * sandbox does not exist (for this user)? Asked only on that refusal path, with the user's own
 * bearer (so the answer is exactly what the API would tell that user), cached 5 s per
 * sandbox and bearer digest.
 */
export class SandboxLookup {
  readonly #cp: ControlPlane
  readonly #answers: AnswerCache<UserSandboxAnswer>

  constructor(options: SandboxLookupOptions) {
    this.#cp = options.controlPlane
    this.#answers = new AnswerCache<UserSandboxAnswer>({
      name: 'sandbox_lookup',
      max: options.maxEntries,
      ttlMs: () => TTL_MS,
      ...(options.onLookup ? { onLookup: options.onLookup } : {}),
    })
  }

  /** Never throws a control-plane failure: unknown is 'refused' (the 401 stands). */
  async forUser(sandboxId: string, bearer: string, waiter: Waiter): Promise<UserSandboxAnswer> {
    try {
      return await this.#answers.get(`${sandboxId}\0${hashToken(bearer)}`, (s) => this.#cp.sandboxForUser(sandboxId, bearer, s), waiter)
    } catch {
      return 'refused'
    }
  }
}
