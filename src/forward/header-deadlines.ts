/** Something that gives up when its deadline passes (an exchange waiting for response headers). */
export interface Expiring {
  expire(): void
}

function performanceNow(): number {
  return performance.now()
}

function sweepOnTick(d: HeaderDeadlines): void {
  d.sweep()
}

/**
 * SPEC §6 upstream header deadlines, one interval for every exchange instead of a timer each.
 * All share one timeout, so they fall due in the order they were set: a FIFO queue serves. An
 * exchange answered in time clears its slot (no reference kept); the sweep drops cleared slots,
 * expires what is due and stops at the first slot not due. The interval runs only while slots are
 * queued. Precision: the timeout plus at most one tick (timeout ÷ 8, 5–250 ms). Memory: while one
 * exchange waits out its whole timeout, the cleared slots behind it stay (16 bytes each, no
 * reference) until it expires: request rate × timeout × 16 B at worst, then compacted.
 */
export class HeaderDeadlines {
  readonly #timeoutMs: number
  readonly #tickMs: number
  #waiting: (Expiring | undefined)[] = []
  #due: number[] = []
  #head = 0
  /** Ticket of #waiting[0]: tickets stay valid when the queue is compacted. */
  #base = 0
  #timer: NodeJS.Timeout | undefined
  readonly #now: () => number

  constructor(timeoutMs: number, now: () => number = performanceNow) {
    this.#timeoutMs = timeoutMs
    this.#now = now
    this.#tickMs = Math.max(5, Math.min(250, Math.floor(timeoutMs / 8)))
  }

  /** Starts the clock for `e`; the ticket cancels it. */
  add(e: Expiring): number {
    if (this.#timer === undefined) {
      this.#timer = setInterval(sweepOnTick, this.#tickMs, this)
      this.#timer.unref()
    }
    this.#waiting.push(e)
    this.#due.push(this.#now() + this.#timeoutMs)
    return this.#base + this.#waiting.length - 1
  }

  cancel(ticket: number): void {
    const i = ticket - this.#base
    if (i >= this.#head && i < this.#waiting.length) this.#waiting[i] = undefined
  }

  sweep(): void {
    const now = this.#now()
    const waiting = this.#waiting
    let h = this.#head
    while (h < waiting.length) {
      const e = waiting[h]
      if (e !== undefined) {
        if ((this.#due[h] as number) > now) break
        waiting[h] = undefined
        e.expire()
      }
      h++
    }
    if (h === waiting.length) {
      this.#base += h
      waiting.length = 0
      this.#due.length = 0
      h = 0
      clearInterval(this.#timer)
      this.#timer = undefined
    } else if (h > 1024 && h * 2 > waiting.length) {
      waiting.splice(0, h)
      this.#due.splice(0, h)
      this.#base += h
      h = 0
    }
    this.#head = h
  }

  stop(): void {
    clearInterval(this.#timer)
    this.#timer = undefined
  }
}
