// wake/ owns what a visit to a sandbox without a reachable runner gets (SPEC §10): one start
// call for the whole fleet, then the starting page or a typed answer.
import type { ControlPlane, Runner } from '../control-plane/types.js'
import type { GatewayErrorCode } from '../errors/codes.js'
import type { FleetHooks } from '../fleet/hooks.js'
import type { Logger } from '../log.js'
import { AnswerCache, type CacheResult, type Waiter } from '../resolve/cache.js'
import type { Resolver } from '../resolve/resolver.js'
import { meaningOf } from '../control-plane/sandbox-state.js'

/** A state is looked up at most about once a second per sandbox (the starting page reloads every 2 s). */
const STATE_TTL_MS = 1000
/** One start call per sandbox per minute for the whole fleet, however many visitors. */
const WAKE_CLAIM_SEC = 60
/**
 * Visitors who arrive while this process sends the start wait for the platform to take it, at most
 * this long: then "starting" is true when they read it (and no request is held for long).
 */
const START_ACK_WAIT_MS = 2000

export interface SandboxWakeOptions {
  readonly controlPlane: ControlPlane
  readonly resolver: Resolver
  readonly fleet: FleetHooks
  /** WAKE_ON_REQUEST: start a stopped sandbox; off, it is only reported as stopped. */
  readonly enabled: boolean
  readonly maxEntries: number
  readonly log: Logger
  readonly onLookup?: (cache: string, result: CacheResult) => void
}

/** The runner to forward to after all, or the error code to answer with. */
export type WakeOutcome = { readonly runner: Runner } | { readonly answer: GatewayErrorCode }

/**
 * SPEC §10 wake on visit. Consulted only when an authenticated sandbox has no runner or its runner
 * refused the connection: asks the platform for the sandbox's state (cached ~1 s, coalesced),
 * starts a stopped one once per fleet, and names the answer. Nothing here holds a request: the
 * visitor gets "starting" at once and comes back.
 */
export class SandboxWake {
  readonly #cp: ControlPlane
  readonly #resolver: Resolver
  readonly #fleet: FleetHooks
  readonly #enabled: boolean
  readonly #log: Logger
  readonly states: AnswerCache<string | null>
  /** Starts this process is sending, by sandbox: settle when the platform answered (or after START_ACK_WAIT_MS). */
  readonly #starting = new Map<string, Promise<void>>()

  constructor(o: SandboxWakeOptions) {
    this.#cp = o.controlPlane
    this.#resolver = o.resolver
    this.#fleet = o.fleet
    this.#enabled = o.enabled
    this.#log = o.log
    this.states = new AnswerCache<string | null>({ name: 'sandbox_state', max: o.maxEntries, ttlMs: () => STATE_TTL_MS, ...(o.onLookup ? { onLookup: o.onLookup } : {}) })
    o.controlPlane.onChange?.((id) => (id === null ? this.states.clear() : this.states.delete(id)))
  }

  /** No runner is known for this sandbox: the runner after all (it just started), or an answer. */
  async afterNoRunner(sandboxId: string, waiter: Waiter): Promise<WakeOutcome> {
    const state = await this.#state(sandboxId, waiter)
    // No runner holds it and the platform cannot say more: "not started" (the SDK's SANDBOX_NOT_STARTED).
    if (state === undefined) return { answer: 'SANDBOX_NOT_STARTED' }
    if (meaningOf(state) === 'running') {
      // Started since the runner was looked up: drop that answer and look again, once.
      this.#resolver.dropRunner(sandboxId)
      let runner: Runner | null
      try { runner = await this.#resolver.runner(sandboxId, waiter) } catch { return { answer: 'CONTROL_PLANE_UNAVAILABLE' } }
      return runner === null ? { answer: 'SANDBOX_NOT_STARTED' } : { runner }
    }
    return { answer: await this.#settled(sandboxId, this.#answerFor(sandboxId, state, 'SANDBOX_NOT_STARTED')) }
  }

  /**
   * Whether the platform knows this label as a sandbox, in any state: one that no runner holds
   * (stopped, archived) is still a sandbox its owner may log in to, not a dead share link.
   */
  async isKnown(sandboxId: string, waiter: Waiter): Promise<boolean> {
    return typeof (await this.#state(sandboxId, waiter)) === 'string'
  }

  /** The runner refused the connection (its cache entry is already dropped): the answer. */
  async afterRefused(sandboxId: string, waiter: Waiter): Promise<GatewayErrorCode> {
    const state = await this.#state(sandboxId, waiter)
    if (state === undefined || meaningOf(state) === 'running') return 'UPSTREAM_UNREACHABLE'
    return this.#settled(sandboxId, this.#answerFor(sandboxId, state, 'UPSTREAM_UNREACHABLE'))
  }

  /** "Starting" is answered once a start this process sends has been taken (bounded wait). */
  async #settled(sandboxId: string, code: GatewayErrorCode): Promise<GatewayErrorCode> {
    const pending = code === 'SANDBOX_STARTING' ? this.#starting.get(sandboxId) : undefined
    if (pending !== undefined) await pending
    return code
  }

  /** undefined: the platform could not say (the caller keeps its plain answer). */
  async #state(sandboxId: string, waiter: Waiter): Promise<string | null | undefined> {
    try {
      return await this.states.get(sandboxId, (s) => this.#cp.sandboxState(sandboxId, s), waiter)
    } catch {
      return undefined
    }
  }

  /** `unknown`: the answer when the platform does not know the sandbox and wake is off. */
  #answerFor(sandboxId: string, state: string | null, unknown: GatewayErrorCode): GatewayErrorCode {
    const meaning = meaningOf(state)
    if (!this.#enabled) {
      // An unknown sandbox without wake keeps the answer of before (some platforms hide it).
      if (state === null) return unknown
      if (meaning === 'wake' || state === 'stopping' || state === 'archiving') return 'SANDBOX_STOPPED'
      return meaning === 'wait' ? 'SANDBOX_STARTING' : meaning === 'running' ? 'UPSTREAM_UNREACHABLE' : meaning
    }
    if (meaning === 'wake') { this.#wake(sandboxId); return 'SANDBOX_STARTING' }
    if (meaning === 'wait') return 'SANDBOX_STARTING'
    return meaning === 'running' ? 'UPSTREAM_UNREACHABLE' : meaning
  }

  /** The first claim in the fleet sends the one start; the call itself is detached from any request. */
  #wake(sandboxId: string): void {
    if (this.#starting.has(sandboxId)) return
    const call = this.#fleet.claimOnce(`wake:${sandboxId}`, WAKE_CLAIM_SEC).then(async (won) => {
      if (!won) return
      this.#log.info({ sandboxId }, 'waking a stopped sandbox on visit')
      const ok = await this.#cp.startSandbox(sandboxId)
      // Whatever happened, the next look asks the platform again.
      this.states.delete(sandboxId)
      if (!ok) this.#log.warn({ sandboxId }, 'start call refused or failed; no new start for this sandbox for 60 s')
    }).catch(() => { /* claimOnce never fails a request; startSandbox never throws */ })
    let timer: NodeJS.Timeout | undefined
    const bounded = Promise.race([call, new Promise<void>((resolve) => { timer = setTimeout(resolve, START_ACK_WAIT_MS) })])
    this.#starting.set(sandboxId, bounded)
    void call.finally(() => { clearTimeout(timer); this.#starting.delete(sandboxId) })
  }
}
