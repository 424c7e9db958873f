import type { Registry } from 'prom-client'
import type { FleetHooks } from '../fleet/hooks.js'
import { asToWorker, type ToPrimary } from './messages.js'

/** A claim the primary does not answer in this time is decided locally (never hang a request). */
const CLAIM_TIMEOUT_MS = 1000

function ignore(): void {}

/**
 * A worker's side of the IPC channel to the cluster primary: relays sandbox invalidations to the
 * pod's other workers, asks the primary for pod-wide one-time claims, and hears the drain order.
 * Listening starts at construction so that a drain sent during start-up is not lost.
 */
export class WorkerLink {
  #seq = 0
  readonly #pending = new Map<number, (first: boolean) => void>()
  #onInvalidate: (sandboxId: string) => void = ignore
  #onDrain: () => void = ignore
  #drainRequested = false
  #registry: Registry | undefined

  constructor() {
    process.on('message', this.#onMessage)
  }

  /** Invalidations other workers received (already applied there; apply them here). */
  onInvalidate(fn: (sandboxId: string) => void): void {
    this.#onInvalidate = fn
  }

  /** The registry the primary's METRICS_PORT aggregates (before it is set, scrapes get nothing from here). */
  serveMetrics(registry: Registry): void {
    this.#registry = registry
  }

  /** Called once when the primary orders a drain (at once if it already did). */
  onDrain(fn: () => void): void {
    this.#onDrain = fn
    if (this.#drainRequested) fn()
  }

  /**
   * The fleet as this worker sees it: whatever `inner` does (local cache, or the Redis tier for
   * other replicas) plus the pod's other workers through the primary.
   */
  wrap(inner: FleetHooks): FleetHooks {
    return {
      invalidateSandbox: (sandboxId: string): Promise<boolean> => {
        this.#send({ type: 'gw:invalidate', id: sandboxId })
        return inner.invalidateSandbox(sandboxId)
      },
      claimOnce: async (key: string, ttlSec: number): Promise<boolean> => {
        if (!(await this.#claim(key, ttlSec))) return false
        return inner.claimOnce(key, ttlSec)
      },
      releaseClaim: (key: string): void => {
        this.#send({ type: 'gw:unclaim', key })
        inner.releaseClaim(key)
      },
    }
  }

  #claim(key: string, ttlSec: number): Promise<boolean> {
    const seq = ++this.#seq
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => { this.#pending.delete(seq); resolve(true) }, CLAIM_TIMEOUT_MS)
      this.#pending.set(seq, (first) => { clearTimeout(timer); resolve(first) })
      if (!this.#send({ type: 'gw:claim', seq, key, ttlSec })) { clearTimeout(timer); this.#pending.delete(seq); resolve(true) }
    })
  }

  #send(m: ToPrimary): boolean {
    if (process.send === undefined || process.connected !== true) return false
    process.send(m, undefined, undefined, ignore)
    return true
  }

  readonly #onMessage = (raw: unknown): void => {
    const m = asToWorker(raw)
    if (m === undefined) return
    switch (m.type) {
      case 'gw:invalidate': this.#onInvalidate(m.id); return
      case 'gw:claimed': {
        const done = this.#pending.get(m.seq)
        if (done !== undefined) { this.#pending.delete(m.seq); done(m.first) }
        return
      }
      case 'gw:scrape': {
        const seq = m.seq
        const reg = this.#registry
        if (reg === undefined) { this.#send({ type: 'gw:metrics', seq, metrics: [] }); return }
        reg.getMetricsAsJSON().then(
          (metrics) => this.#send({ type: 'gw:metrics', seq, metrics }),
          () => this.#send({ type: 'gw:metrics', seq, metrics: [] }),
        )
        return
      }
      case 'gw:drain':
        if (this.#drainRequested) return
        this.#drainRequested = true
        this.#onDrain()
    }
  }
}
