import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { readFileSync } from 'node:fs'
import { AuthChain } from './auth/chain.js'
import { SessionSigner } from './auth/session.js'
import { OidcLogin } from './auth/oidc.js'
import { PreviewWarning } from './listener/warning-page.js'
import type { Config } from './config/load.js'
import { EmbeddedControlPlane } from './control-plane/embedded.js'
import { HttpControlPlane } from './control-plane/http.js'
import type { ControlPlane } from './control-plane/types.js'
import { startDemoApp } from './demo/app.js'
import { HttpForwarder } from './forward/http.js'
import type { WsTunnel } from './forward/ws.js'
import { RequestFlow } from './listener/request-flow.js'
import { createListener } from './listener/server.js'
import type { Logger } from './log.js'
import { ActivityTracker } from './resolve/activity.js'
import { Resolver } from './resolve/resolver.js'

export const VERSION: string = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version

export interface Gateway {
  readonly server: Server
  readonly controlPlane: ControlPlane
  readonly resolver: Resolver
  listen(): Promise<AddressInfo>
  /** Drain: stop accepting, let in-flight requests finish within the timeout, then close the rest. */
  close(timeoutMs: number): Promise<void>
  readonly ready: boolean
  setDraining(): void
}

/** The composition root: builds every part once from Config and wires them; no request logic. */
export async function createGateway(config: Config, log: Logger): Promise<Gateway> {
  const controlPlane: ControlPlane = config.apiUrl !== undefined
    ? new HttpControlPlane({ apiUrl: config.apiUrl, apiKey: config.apiKey as string, timeoutMs: config.apiTimeoutMs })
    : new EmbeddedControlPlane({
      file: config.sandboxesFile,
      secret: config.sessionSecret,
      onReloadError: (err) => log.error({ err: err.message }, 'embedded registry not reloaded; keeping the previous one'),
    })
  const demoServers: Server[] = []
  if (controlPlane instanceof EmbeddedControlPlane) {
    const demo = controlPlane.registry.demoApp
    if (demo !== undefined) {
      demoServers.push(await startDemoApp(demo.host, demo.port))
      log.info({ demoApp: `${demo.host}:${demo.port}` }, 'demo app started (configured by demoApp in the registry)')
    }
  }

  const resolver = new Resolver({ controlPlane, maxEntries: config.cacheMaxEntries })
  const sessions = new SessionSigner(config.sessionSecret)
  const auth = new AuthChain({ resolver, sessions, secureCookies: config.protocol === 'https', partitionedCookies: config.cookiePartitioned })
  const oidc = new OidcLogin({ config, controlPlane, secret: config.sessionSecret })
  const warning = config.previewWarning ? new PreviewWarning({ protocol: config.protocol, cookieDomain: config.cookieDomain }) : null
  const http = new HttpForwarder({ upstreamTimeoutMs: config.upstreamTimeoutMs, idleTimeoutMs: config.upstreamIdleTimeoutMs })
  const activity = new ActivityTracker(controlPlane, { maxEntries: config.cacheMaxEntries })
  const tunnels = new Set<WsTunnel>()
  let ready = true

  const flow = new RequestFlow({
    config,
    oidc,
    sessions,
    warning,
    version: VERSION,
    controlPlane,
    resolver,
    auth,
    http,
    activity,
    isReady: () => ready,
    onTunnelOpen: (t) => { tunnels.add(t); activity.open(t) },
    onTunnelClose: (t) => { tunnels.delete(t); activity.close(t) },
  })
  const server = createListener({
    tls: config.tls,
    keepAliveTimeoutMs: config.keepAliveTimeoutMs,
    clientIdleTimeoutMs: config.clientIdleTimeoutMs,
    onRequest: flow.onRequest,
    onUpgrade: flow.onUpgrade,
  })

  return {
    server,
    controlPlane,
    resolver,
    get ready() { return ready },
    setDraining() { ready = false },
    listen() {
      return new Promise((resolve, reject) => {
        server.once('error', reject)
        server.listen({ port: config.port, host: config.bind, backlog: 4096 }, () => {
          server.off('error', reject)
          resolve(server.address() as AddressInfo)
        })
      })
    },
    async close(timeoutMs: number) {
      ready = false
      const closed = new Promise<void>((resolve) => server.close(() => resolve()))
      server.closeIdleConnections()
      const deadline = new Promise<'timeout'>((resolve) => setTimeout(resolve, timeoutMs, 'timeout').unref())
      const idleSweep = setInterval(() => server.closeIdleConnections(), 250)
      // WebSockets are not "in flight" requests: they are closed at the deadline (or now, with no timeout).
      const result = await Promise.race([closed, deadline])
      clearInterval(idleSweep)
      for (const t of tunnels) t.destroy()
      if (result === 'timeout') server.closeAllConnections()
      activity.stop()
      await Promise.allSettled([http.close(), controlPlane.close(), ...demoServers.map((s) => new Promise((r) => { s.closeAllConnections(); s.close(r) }))])
    },
  }
}
