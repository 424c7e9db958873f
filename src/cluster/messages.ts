/**
 * The IPC messages between the cluster primary and its workers (WORKERS > 1). Prefixed types so
 * they never collide with prom-client's own aggregation messages on the same channel.
 */
export type ToPrimary =
  /** A worker dropped a sandbox's answers (webhook): the primary relays it to the other workers. */
  | { readonly type: 'gw:invalidate'; readonly id: string }
  /** One-time claim for the whole pod (webhook ids, login tickets). */
  | { readonly type: 'gw:claim'; readonly seq: number; readonly key: string; readonly ttlSec: number }
  | { readonly type: 'gw:unclaim'; readonly key: string }
  /** The worker's registry as prom-client's getMetricsAsJSON() gives it (aggregated by the primary). */
  | { readonly type: 'gw:metrics'; readonly seq: number; readonly metrics: readonly object[] }

export type ToWorker =
  | { readonly type: 'gw:invalidate'; readonly id: string }
  | { readonly type: 'gw:claimed'; readonly seq: number; readonly first: boolean }
  /** The pod got SIGTERM/SIGINT: drain in SPEC §8's order, then exit 0. */
  | { readonly type: 'gw:drain' }
  /** METRICS_PORT was scraped: send this worker's metrics. */
  | { readonly type: 'gw:scrape'; readonly seq: number }

function typed(m: unknown): string | undefined {
  if (m === null || typeof m !== 'object') return undefined
  const t = (m as { type?: unknown }).type
  return typeof t === 'string' ? t : undefined
}

export function asToPrimary(m: unknown): ToPrimary | undefined {
  const t = typed(m)
  const o = m as Record<string, unknown>
  if (t === 'gw:invalidate' && typeof o.id === 'string') return m as ToPrimary
  if (t === 'gw:claim' && typeof o.seq === 'number' && typeof o.key === 'string' && typeof o.ttlSec === 'number') return m as ToPrimary
  if (t === 'gw:unclaim' && typeof o.key === 'string') return m as ToPrimary
  if (t === 'gw:metrics' && typeof o.seq === 'number' && Array.isArray(o.metrics)) return m as ToPrimary
  return undefined
}

export function asToWorker(m: unknown): ToWorker | undefined {
  const t = typed(m)
  const o = m as Record<string, unknown>
  if (t === 'gw:invalidate' && typeof o.id === 'string') return m as ToWorker
  if (t === 'gw:claimed' && typeof o.seq === 'number' && typeof o.first === 'boolean') return m as ToWorker
  if (t === 'gw:drain') return m as ToWorker
  if (t === 'gw:scrape' && typeof o.seq === 'number') return m as ToWorker
  return undefined
}
