/**
 * Protection (issue 5): shed new requests while the event loop lags, and an optional cap of
 * concurrent exchanges + WebSockets per sandbox. Streams already open are never cut by either.
 */
export class LoadShedder {
  #lagMs = 0
  #limitMs: number
  #timer: NodeJS.Timeout | undefined
  #expected = 0

  /** `limitMs` 0 disables shedding. */
  constructor(limitMs: number, sampleMs = 200) {
    this.#limitMs = limitMs
    if (limitMs <= 0) return
    this.#expected = performance.now() + sampleMs
    this.#timer = setInterval(() => {
      const now = performance.now()
      // Smoothed lag: one slow tick alone does not flip the switch.
      this.#lagMs = this.#lagMs * 0.6 + Math.max(0, now - this.#expected) * 0.4
      this.#expected = now + sampleMs
    }, sampleMs)
    this.#timer.unref()
  }

  get lagMs(): number {
    return this.#lagMs
  }

  isOverloaded(): boolean {
    return this.#limitMs > 0 && this.#lagMs > this.#limitMs
  }

  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer)
  }
}

export class SandboxLimiter {
  #max: number
  #open = new Map<string, number>()

  /** `max` 0 disables the limit. */
  constructor(max: number) {
    this.#max = max
  }

  get enabled(): boolean {
    return this.#max > 0
  }

  tryAcquire(sandboxId: string): boolean {
    if (this.#max <= 0) return true
    const n = this.#open.get(sandboxId) ?? 0
    if (n >= this.#max) return false
    this.#open.set(sandboxId, n + 1)
    return true
  }

  release(sandboxId: string): void {
    if (this.#max <= 0) return
    const n = (this.#open.get(sandboxId) ?? 1) - 1
    if (n <= 0) this.#open.delete(sandboxId)
    else this.#open.set(sandboxId, n)
  }
}
