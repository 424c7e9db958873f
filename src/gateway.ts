import type { Server } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { readFileSync } from 'node:fs'
import { subscribe } from 'node:diagnostics_channel'
import { AuthChain } from './auth/chain.js'
import { OidcLogin } from './auth/oidc.js'
import { SessionSigner } from './auth/session.js'
import type { Config } from './config/load.js'
import { EmbeddedControlPlane } from './control-plane/embedded.js'
import { HttpControlPlane } from './control-plane/http.js'
import type { ControlPlane } from './control-plane/types.js'
import { startRegistryDemo } from './demo/app.js'
import { HttpForwarder } from './forward/http.js'
import type { WsTunnel } from './forward/ws.js'
import { Accounting } from './listener/accounting.js'
import { Admission } from './admission/admission.js'
import { CorsPolicy } from './admission/cors.js'
import { LoadShedder, SandboxLimiter } from './admission/limits.js'
import { Unauthorized } from './admission/unauthorized.js'
import { PreviewWarning } from './admission/warning-page.js'
import { TrustedProxies } from './forward/trusted-proxies.js'
import { RequestFlow } from './listener/request-flow.js'
import { SignedFileUrls } from './auth/signed-file-url.js'
import { SandboxLookup } from './resolve/sandbox-lookup.js'
import { createListener } from './listener/server.js'
import type { Logger } from './log.js'
import { Metrics } from './metrics/metrics.js'
import { ActivityTracker } from './resolve/activity.js'
import { Resolver } from './resolve/resolver.js'
import { LocalFleet, type FleetHooks } from './fleet/hooks.js'
import type { RedisFleet } from './fleet/redis-fleet.js'
import { routeTable } from './routes/table.js'
import { WebhookRoute } from './routes/webhooks.js'
import { SandboxWake } from './wake/sandbox-wake.js'

/**
 * The Redis client is loaded only when Redis is configured: ~4 MB of heap that every full
 * collection would otherwise mark for nothing (README "Runtime settings").
 */
async function redisFleetClass(): Promise<typeof RedisFleet> {
  return (await import('./fleet/redis-fleet.js')).RedisFleet
}

export const VERSION: string = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version

export interface Gateway {
  readonly server: Server
  readonly controlPlane: ControlPlane
  readonly resolver: Resolver
  readonly metrics: Metrics
  /** Invalidation and one-time claims across replicas (Redis with REDIS_HOST, else this process). */
  readonly fleet: FleetHooks
  /** Drops this process's cached answers about a sandbox (IPC relays from other workers land here). */
  invalidateLocal(sandboxId: string): void
  listen(): Promise<AddressInfo>
  /** Readiness false at once (load balancers stop sending new connections). */
  setDraining(): void
  readonly ready: boolean
  /** Drain: stop accepting, let in-flight requests finish within the timeout, close WebSockets with 1001. */
  close(timeoutMs: number): Promise<void>
}

export interface GatewayOptions {
  /** WORKERS > 1: wraps the fleet so invalidations and claims also reach the pod's other workers. */
  readonly wrapFleet?: (fleet: FleetHooks) => FleetHooks
}

/** The composition root: builds every part once from Config and wires them; no request logic. */
export async function createGateway(config: Config, log: Logger, options: GatewayOptions = {}): Promise<Gateway> {
  let metrics: Metrics | undefined
  const controlPlane: ControlPlane = config.apiUrl !== undefined
    ? new HttpControlPlane({
      apiUrl: config.apiUrl,
      apiKey: config.apiKey as string,
      timeoutMs: config.apiTimeoutMs,
      onCall: (call, outcome, ms, tries) => {
        metrics?.controlPlaneCalls.inc({ call, outcome })
        metrics?.controlPlaneDuration.observe({ call }, ms / 1000)
        if (tries > 1) metrics?.controlPlaneRetries.inc({ call }, tries - 1)
      },
    })
    : new EmbeddedControlPlane({
      file: config.sandboxesFile,
      secret: config.sessionSecret,
      onReloadError: (err) => log.error({ err: err.message }, 'embedded registry not reloaded; keeping the previous one'),
    })
  const demoServers = controlPlane instanceof EmbeddedControlPlane ? await startRegistryDemo(controlPlane.registry.demoApp, log) : []

  const tunnels = new Set<WsTunnel>()
  // The fleet needs the resolver (to invalidate it) and the resolver the fleet's shared tiers.
  let resolverRef: Resolver | undefined
  const redisFleet = config.redis === undefined ? undefined : new (await redisFleetClass())({
    settings: config.redis,
    log,
    secret: config.sessionSecret,
    apiTimeoutMs: config.apiTimeoutMs,
    invalidateLocal: (id) => resolverRef?.invalidateSandbox(id),
    clearLocal: () => resolverRef?.clear(),
    onSharedResult: (cache, result) => metrics?.sharedCache?.inc({ cache, result }),
  })
  const baseFleet: FleetHooks = redisFleet ?? new LocalFleet((id) => resolverRef?.invalidateSandbox(id))
  const resolver = new Resolver({
    controlPlane,
    maxEntries: config.cacheMaxEntries,
    onLookup: (cache, result) => metrics?.cacheLookups.inc({ cache, result }),
    // Embedded answers (plain upstreams, a local file) are this process's own: not shared.
    ...(redisFleet !== undefined && controlPlane.kind === 'daytona' ? { shared: redisFleet.shared } : {}),
  })
  resolverRef = resolver
  metrics = new Metrics({
    version: VERSION,
    websockets: () => tunnels.size,
    cacheSizes: () => ({
      public: resolver.publicFlags.size,
      preview_token: resolver.tokens.size,
      bearer: resolver.access.size,
      signed_token: resolver.signedTokens.size,
      runner: resolver.runners.size,
    }),
    ...(redisFleet === undefined ? {} : { redisUp: () => redisFleet.up }),
  })
  const m = metrics
  observeUpstreamConnects(m)
  // WORKERS > 1: the pod's other workers hear invalidations and claims through the primary too.
  const fleet = options.wrapFleet === undefined ? baseFleet : options.wrapFleet(baseFleet)
  const webhooks = config.webhookSecret === undefined ? null : new WebhookRoute({
    secret: config.webhookSecret,
    fleet,
    onEvent: (event, result) => m.webhookEvents.inc({ event, result }),
    onReject: (reason) => m.webhookRejections.inc({ reason }),
  })

  const sessions = new SessionSigner(config.sessionSecret, Date.now, { secure: config.protocol === 'https', partitioned: config.cookiePartitioned })
  const auth = new AuthChain({
    resolver,
    sessions,
    onDecision: (method, result) => m.authDecisions.inc({ method, result }),
  })
  const oidc = new OidcLogin({ config, controlPlane, secret: config.sessionSecret, fleet })
  const onLookup = (cache: string, result: 'hit' | 'miss' | 'stale' | 'coalesced'): void => { m.cacheLookups.inc({ cache, result }) }
  const warning = config.previewWarning
    ? new PreviewWarning({ controlPlane, maxEntries: config.cacheMaxEntries, onLookup })
    : null
  const wake = new SandboxWake({ controlPlane, resolver, fleet, enabled: config.wakeOnRequest, maxEntries: config.cacheMaxEntries, log, onLookup })
  const http = new HttpForwarder({
    upstreamTimeoutMs: config.upstreamTimeoutMs,
    idleTimeoutMs: config.upstreamIdleTimeoutMs,
    onUpstreamError: (kind) => m.upstreamErrors.inc({ kind }),
    onUpstreamHeaders: (s) => m.upstreamHeaders.observe(s),
  })
  const activity = new ActivityTracker(controlPlane, {
    maxEntries: config.cacheMaxEntries,
    // One post per sandbox per 45 s for the whole fleet, not per replica.
    ...(redisFleet === undefined ? {} : { claim: (id: string) => redisFleet.claimOnce(`activity:${id}`, 45) }),
  })
  const accounting = new Accounting(m, log, config.accessLog)
  const shedder = new LoadShedder(config.overloadLagMs)
  let ready = true

  const trusted = new TrustedProxies(config.trustedProxies)
  const admission = new Admission({
    protocol: config.protocol,
    auth,
    resolver,
    signedFiles: new SignedFileUrls({
      controlPlane,
      maxEntries: config.cacheMaxEntries,
      onLookup,
      onDecision: (method, result) => m.authDecisions.inc({ method, result }),
    }),
    unauthorized: new Unauthorized({
      domains: config.domains,
      protocol: config.protocol,
      publicPort: config.publicPort,
      oidc,
      resolver,
      sandboxLookup: new SandboxLookup({ controlPlane, maxEntries: config.cacheMaxEntries, onLookup }),
      wake,
    }),
    wake,
    warning,
    activity,
    shedder,
    limiter: new SandboxLimiter(config.maxConnectionsPerSandbox),
    onOverload: () => m.overloaded.inc(),
    cors: new CorsPolicy(config.corsAllowedOrigins, config.domains),
    trusted,
  })
  const flow = new RequestFlow({
    domains: config.domains,
    toolboxOnly: config.toolboxOnly,
    routes: routeTable({
      version: VERSION,
      isReady: () => ready,
      oidc,
      sessions,
      sessionTtlSec: config.sessionTtlSec,
      protocol: config.protocol,
      cookieDomain: config.cookieDomain,
      previewWarning: warning !== null,
      webhooks,
      controlPlane,
      http,
      trusted,
      cacheMaxEntries: config.cacheMaxEntries,
      onLookup,
    }),
    admission,
    http,
    warning,
    activity,
    accounting,
    onTunnelOpen: (t) => { tunnels.add(t); activity.open(t); m.websocketsTotal.inc() },
    onTunnelClose: (t) => { tunnels.delete(t); activity.close(t) },
    onUpstreamError: (kind) => m.upstreamErrors.inc({ kind }),
    upgradeTimeoutMs: config.upstreamTimeoutMs,
  })
  const server = createListener({
    tls: config.tls,
    keepAliveTimeoutMs: config.keepAliveTimeoutMs,
    clientIdleTimeoutMs: config.clientIdleTimeoutMs,
    onRequest: flow.onRequest,
    onUpgrade: flow.onUpgrade,
  })
  if (config.maxConnections > 0) server.maxConnections = config.maxConnections
  // Over TLS both events fire for one client: count the TLS socket (it is what requests use).
  server.on(config.tls === undefined ? 'connection' : 'secureConnection', (socket: Socket) => accounting.connectionOpened(socket))
  server.on('drop', () => m.refusedConnections.inc({ reason: 'max_connections' }))
  let metricsServer: Server | undefined

  return {
    server,
    controlPlane,
    resolver,
    metrics: m,
    fleet,
    invalidateLocal: (id) => resolver.invalidateSandbox(id),
    get ready() { return ready },
    setDraining() { ready = false },
    async listen() {
      const addr = await new Promise<AddressInfo>((resolve, reject) => {
        server.once('error', reject)
        server.listen({ port: config.port, host: config.bind, backlog: 4096 }, () => {
          server.off('error', reject)
          resolve(server.address() as AddressInfo)
        })
      })
      if (config.metricsPort !== undefined) {
        // Named, so that the start-up line blames METRICS_PORT, not PROXY_PORT.
        metricsServer = await m.listen(config.metricsPort, config.metricsBind).catch((err: NodeJS.ErrnoException) => {
          server.close()
          throw Object.assign(err, { configKey: 'METRICS_PORT', address: `${config.metricsBind}:${config.metricsPort}` })
        })
      }
      return addr
    },
    async close(timeoutMs: number) {
      ready = false
      // New connections are refused from here; idle keep-alive connections are closed as they go idle.
      const closed = new Promise<void>((resolve) => server.close(() => resolve()))
      server.closeIdleConnections()
      const idleSweep = setInterval(() => server.closeIdleConnections(), 250)
      let timer: NodeJS.Timeout | undefined
      const deadline = new Promise<'timeout'>((resolve) => { timer = setTimeout(resolve, timeoutMs, 'timeout') })
      const result = await Promise.race([closed, deadline])
      // WebSockets are held to the deadline (a chat must not be cut when the last HTTP request ends early).
      if (tunnels.size > 0 && result !== 'timeout') await deadline
      clearTimeout(timer)
      clearInterval(idleSweep)
      for (const t of tunnels) t.goingAway()
      server.closeAllConnections()
      activity.stop()
      shedder.stop()
      await Promise.allSettled([
        http.close(),
        controlPlane.close(),
        redisFleet?.close(),
        ...demoServers.map((s) => new Promise((r) => { s.closeAllConnections(); s.close(r) })),
        metricsServer === undefined ? Promise.resolve() : new Promise((r) => { metricsServer?.closeAllConnections(); metricsServer?.close(r) }),
      ])
    },
  }
}

/** Upstream connect time from undici's diagnostics channels (one connect at a time per client). */
function observeUpstreamConnects(m: Metrics): void {
  const started = new WeakMap<object, number>()
  subscribe('undici:client:beforeConnect', (msg) => {
    const { connector } = msg as { connector: object }
    started.set(connector, performance.now())
  })
  subscribe('undici:client:connected', (msg) => {
    const { connector } = msg as { connector: object }
    const t = started.get(connector)
    if (t !== undefined) { started.delete(connector); m.upstreamConnect.observe((performance.now() - t) / 1000) }
  })
}
