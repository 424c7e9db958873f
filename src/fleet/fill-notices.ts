/**
 * Waiters for a shared key, woken when a replica publishes that it filled (or gave up) the key.
 * Only the cold path uses it; a lost notice costs one backoff interval (waiters also poll).
 */
export class FillNotices {
  #waiting = new Map<string, Set<() => void>>()

  /** Resolves on a notice for `key`, after `ms`, or when `signal` aborts — whichever comes first. */
  wait(key: string, ms: number, signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      let set = this.#waiting.get(key)
      if (set === undefined) { set = new Set(); this.#waiting.set(key, set) }
      const waiters = set
      const done = (): void => {
        clearTimeout(timer)
        signal.removeEventListener('abort', done)
        waiters.delete(done)
        if (waiters.size === 0 && this.#waiting.get(key) === waiters) this.#waiting.delete(key)
        resolve()
      }
      const timer = setTimeout(done, ms)
      signal.addEventListener('abort', done, { once: true })
      waiters.add(done)
    })
  }

  notify(key: string): void {
    const set = this.#waiting.get(key)
    if (set === undefined) return
    for (const done of [...set]) done()
  }
}
