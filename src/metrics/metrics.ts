// metrics/ owns the Prometheus registry served on METRICS_PORT only: every series and its
// bounded labels (metrics.ts), hot counters summed at scrape time (tally.ts).
import { createServer, type Server } from 'node:http'
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import { TalliedCounter, TalliedGauge, TalliedHistogram } from './tally.js'

/** Route kinds: the only request classification that reaches a label (never host, id, token, path). */
export type RouteKind = 'preview' | 'toolbox' | 'build_logs' | 'health' | 'login' | 'base' | 'invalid'

const METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'CONNECT', 'TRACE'])

/** Bounded label: a method outside the standard set is `OTHER`. */
export function methodLabel(m: string | undefined): string {
  return m !== undefined && METHODS.has(m) ? m : 'OTHER'
}

const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120]

/**
 * Our own prom-client Registry (not the global one), served only on METRICS_PORT. Gauges that
 * describe state (open WebSockets, cache sizes) use collect(), so nothing is computed per request
 * just to be scraped. Counters end in `_total`, durations are `_seconds`.
 */
export class Metrics {
  readonly registry = new Registry()
  // Per-request metrics are tallied (tally.ts): counted in plain numbers, handed over on scrape.
  readonly requests: TalliedCounter<'kind' | 'method' | 'code'>
  readonly requestDuration: TalliedHistogram<'kind'>
  readonly upstreamConnect: Histogram<never>
  readonly upstreamHeaders: TalliedHistogram
  readonly upstreamErrors: Counter<'kind'>
  readonly openConnections: TalliedGauge
  readonly refusedConnections: Counter<'reason'>
  readonly inflight: TalliedGauge
  readonly websocketsTotal: Counter<never>
  readonly authDecisions: TalliedCounter<'method' | 'result'>
  readonly controlPlaneCalls: Counter<'call' | 'outcome'>
  readonly controlPlaneDuration: Histogram<'call'>
  readonly controlPlaneRetries: Counter<'call'>
  readonly cacheLookups: TalliedCounter<'cache' | 'result'>
  readonly bytes: Counter<'direction'>
  readonly overloaded: Counter<never>
  readonly webhookEvents: Counter<'event' | 'result'>
  readonly webhookRejections: Counter<'reason'>

  /** Only with REDIS_HOST: 1 while Redis answers, 0 during an outage (SPEC §9). */
  readonly redisUp: Gauge<never> | undefined
  readonly sharedCache: Counter<'cache' | 'result'> | undefined

  constructor(options: { version: string; websockets: () => number; cacheSizes: () => Record<string, number>; redisUp?: () => boolean }) {
    const registers = [this.registry]
    collectDefaultMetrics({ register: this.registry })
    this.requests = new TalliedCounter({ name: 'gateway_requests_total', help: 'Requests answered, by route kind, method and status code.', labelNames: ['kind', 'method', 'code'], registers })
    this.requestDuration = new TalliedHistogram({ name: 'gateway_request_duration_seconds', help: 'Time from request to the end of the response, by route kind.', labelNames: ['kind'], buckets: DURATION_BUCKETS, registers })
    this.upstreamConnect = new Histogram({ name: 'gateway_upstream_connect_seconds', help: 'Time to open a connection to a runner or upstream.', buckets: DURATION_BUCKETS, registers })
    this.upstreamHeaders = new TalliedHistogram({ name: 'gateway_upstream_time_to_headers_seconds', help: 'Time from dispatch to the upstream response headers.', buckets: DURATION_BUCKETS, registers })
    this.upstreamErrors = new Counter({ name: 'gateway_upstream_errors_total', help: 'Upstream failures by kind (connect, timeout, reset, other).', labelNames: ['kind'], registers })
    this.openConnections = new TalliedGauge({ name: 'gateway_open_connections', help: 'Client connections open on the public port.', registers })
    this.refusedConnections = new Counter({ name: 'gateway_connections_refused_total', help: 'Client connections or upgrades refused by a limit.', labelNames: ['reason'], registers })
    this.inflight = new TalliedGauge({ name: 'gateway_inflight_requests', help: 'Requests being handled now.', registers })
    this.websocketsTotal = new Counter({ name: 'gateway_websockets_total', help: 'WebSocket tunnels opened.', registers })
    new Gauge({ name: 'gateway_websockets_active', help: 'WebSocket tunnels open now.', registers, collect() { this.set(options.websockets()) } })
    this.authDecisions = new TalliedCounter({ name: 'gateway_auth_decisions_total', help: 'Authentication decisions by winning method and result.', labelNames: ['method', 'result'], registers })
    this.controlPlaneCalls = new Counter({ name: 'gateway_control_plane_calls_total', help: 'Control-plane calls by call and outcome (ok, no, failure).', labelNames: ['call', 'outcome'], registers })
    this.controlPlaneDuration = new Histogram({ name: 'gateway_control_plane_call_duration_seconds', help: 'Control-plane call duration including retries.', labelNames: ['call'], buckets: DURATION_BUCKETS, registers })
    this.controlPlaneRetries = new Counter({ name: 'gateway_control_plane_retries_total', help: 'Control-plane retries (tries beyond the first).', labelNames: ['call'], registers })
    this.cacheLookups = new TalliedCounter({ name: 'gateway_cache_lookups_total', help: 'Cache lookups by cache and result (hit, miss, stale, coalesced).', labelNames: ['cache', 'result'], registers, siblings: { label: 'result', values: ['hit', 'miss', 'stale', 'coalesced'] } })
    new Gauge({
      name: 'gateway_cache_entries', help: 'Entries held by each cache.', labelNames: ['cache'], registers,
      collect() { for (const [cache, n] of Object.entries(options.cacheSizes())) this.set({ cache }, n) },
    })
    this.bytes = new Counter({ name: 'gateway_bytes_total', help: 'Bytes moved on client connections (in = received from clients, out = sent to them).', labelNames: ['direction'], registers })
    this.overloaded = new Counter({ name: 'gateway_overload_rejections_total', help: 'Requests answered 503 OVERLOADED because the event loop lagged.', registers })
    const redisUp = options.redisUp
    if (redisUp !== undefined) {
      this.redisUp = new Gauge({ name: 'gateway_redis_up', help: 'Shared Redis tier answering (1) or not (0: memory and the control plane only).', registers, aggregator: 'min', collect() { this.set(redisUp() ? 1 : 0) } })
      this.sharedCache = new Counter({ name: 'gateway_shared_cache_total', help: 'Redis-tier lookups after a memory miss: hit, miss (this replica called), waited (for another replica\'s call), fallback (Redis unavailable or wait over).', labelNames: ['cache', 'result'], registers })
    }
    this.webhookEvents = new Counter({ name: 'gateway_webhook_events_total', help: 'Verified webhook events by event family and result (applied, ignored, duplicate).', labelNames: ['event', 'result'], registers })
    this.webhookRejections = new Counter({ name: 'gateway_webhook_rejections_total', help: 'Webhook deliveries refused, by reason.', labelNames: ['reason'], registers })
    // 'first': with WORKERS > 1 the pod's aggregated /metrics must still say 1, not N.
    const info = new Gauge({ name: 'gateway_build_info', help: 'Build information.', labelNames: ['version', 'node'], registers, aggregator: 'first' })
    info.set({ version: options.version, node: process.version }, 1)
  }

  /** GET /metrics on its own port (never the public one). */
  listen(port: number, host: string): Promise<Server> {
    const server = createMetricsServer(() => this.registry.metrics(), this.registry.contentType)
    return new Promise((resolve, reject) => {
      server.once('error', reject)
      server.listen(port, host, () => { server.off('error', reject); resolve(server) })
    })
  }
}

/**
 * The metrics listener's one route, `GET|HEAD /metrics` (404 for anything else, 500 when the
 * exposition fails). `render` gives the text: this process's registry, or the pod's aggregate.
 */
export function createMetricsServer(render: () => Promise<string>, contentType: string): Server {
  return createServer((req, res) => {
    if (req.url !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) { res.writeHead(404).end(); return }
    render().then(
      (text) => { res.writeHead(200, { 'Content-Type': contentType }); res.end(text) },
      () => { res.writeHead(500).end() },
    )
  })
}
