/** SPEC §2 retry policy, kept as data (shape of undici's RetryHandler defaults). */
export interface RetryPolicy {
  readonly tries: number
  readonly baseMs: number
  readonly capMs: number
  /** Statuses that are failures, not answers: every 5xx plus these. */
  readonly retryStatuses: ReadonlySet<number>
}

export const DEFAULT_RETRY: RetryPolicy = Object.freeze({
  tries: 3,
  baseMs: 150,
  capMs: 1000,
  retryStatuses: new Set([408, 429]),
})

/** The longest one call may take with its retries: every try timing out, plus the waits between them. */
export function callBudgetMs(policy: RetryPolicy, timeoutMs: number): number {
  let ms = policy.tries * timeoutMs
  for (let attempt = 1; attempt < policy.tries; attempt++) ms += backoffMs(policy, attempt)
  return ms
}

/** A 4xx other than 408/429 is a definite answer; 5xx, 408, 429 are failures (SPEC §2). */
export function isFailureStatus(policy: RetryPolicy, status: number): boolean {
  return status >= 500 || policy.retryStatuses.has(status)
}

/** Delay before try `attempt` (1-based retries): base·2^(attempt-1), capped. */
export function backoffMs(policy: RetryPolicy, attempt: number): number {
  return Math.min(policy.capMs, policy.baseMs * 2 ** (attempt - 1))
}
