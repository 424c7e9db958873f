/**
 * Shared set-up of the browser tests: a gateway in Daytona mode (fake control plane) whose
 * sandboxes live on the HTML app runner, optionally with OIDC against the fake issuer; its public
 * port is its real port (PROXY_PUBLIC_PORT), so every URL the browser sees carries it. Plus small
 * browser-side utilities: a request log per context and the artifacts directory.
 */
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import type { BrowserContext, Request } from 'playwright-core'
import { FakeOidcIssuer } from '../../fakes/oidc-issuer.js'
import { REPO_ROOT } from '../../helpers/gateway.js'
import { freePort } from '../../helpers/http.js'
import { DOMAIN, startStack } from '../../helpers/stack.js'
import type { SandboxHandle, Stack } from '../../helpers/stack.js'
import { AppRunner } from './app-runner.js'
import type { SandboxInit } from '../../fakes/control-plane.js'

export const AUDIENCE = 'https://api.preview-gateway.test'
export const ISSUER_BROWSER_HOST = 'issuer.test'

export interface BrowserStack {
  readonly stack: Stack
  readonly app: AppRunner
  readonly issuer: FakeOidcIssuer | undefined
  readonly gwPort: number
  /** `http://{port}-{label}.preview.test:{gwPort}{path}` */
  previewUrl(port: number, label: string, path?: string): string
  /** `http://preview.test:{gwPort}{path}` */
  baseUrl(path?: string): string
  /** A sandbox on the app runner; the issuer's user may see it unless `userAccess: false`. */
  sandbox(init?: SandboxInit & { readonly userAccess?: boolean; readonly prefix?: string }): SandboxHandle
  close(): Promise<void>
}

export interface BrowserStackOptions {
  readonly oidc?: boolean
  readonly env?: Readonly<Record<string, string>>
}

export async function startBrowserStack(o: BrowserStackOptions = {}): Promise<BrowserStack> {
  const issuer = o.oidc === true ? await FakeOidcIssuer.start({ browserHost: ISSUER_BROWSER_HOST }) : undefined
  const app = await AppRunner.start()
  const gwPort = await freePort()
  const env: Record<string, string> = {
    PROXY_PORT: String(gwPort),
    PROXY_PUBLIC_PORT: String(gwPort),
    SESSION_SECRET: 'browser-tests-session-secret-0123456789abcdef',
    ...(issuer === undefined ? {} : {
      OIDC_DOMAIN: issuer.issuer,
      OIDC_CLIENT_ID: issuer.clientId,
      OIDC_CLIENT_SECRET: issuer.clientSecret ?? '',
      OIDC_AUDIENCE: AUDIENCE,
    }),
    ...(o.env ?? {}),
  }
  let stack: Stack
  try {
    stack = await startStack(env)
  } catch (err) {
    await app.close()
    await issuer?.close()
    throw err
  }
  issuer?.redirectUris.add(`http://${DOMAIN}:${gwPort}/callback`)
  if (issuer === undefined) {
    // Without our issuer, no OIDC at all: the fake API's /config would otherwise offer its own
    // (unreachable) issuer, and SPEC §2 lets /config fill in OIDC settings missing from env.
    const { oidc: _unused, ...rest } = stack.cp.config
    void _unused
    stack.cp.config = rest
  }
  return {
    stack,
    app,
    issuer,
    gwPort,
    previewUrl: (port, label, path = '/') => `http://${port}-${label}.${DOMAIN}:${gwPort}${path}`,
    baseUrl: (path = '/') => `http://${DOMAIN}:${gwPort}${path}`,
    sandbox(init = {}) {
      const bearers = [...(init.bearers ?? []), ...(issuer !== undefined && init.userAccess !== false ? [issuer.accessToken] : [])]
      return stack.sandbox({ ...init, prefix: init.prefix ?? 'sbx', runner: init.runner === undefined ? app.runnerInfo : init.runner, bearers })
    },
    async close() {
      await stack.close()
      await app.close()
      await issuer?.close()
    },
  }
}

export interface SeenRequest {
  readonly url: string
  readonly method: string
  readonly navigation: boolean
  readonly resourceType: string
  readonly request: Request
}

/** Every request the context's pages and frames make, in order. */
export function recordRequests(context: BrowserContext): SeenRequest[] {
  const seen: SeenRequest[] = []
  context.on('request', (r: Request) => {
    seen.push({ url: r.url(), method: r.method(), navigation: r.isNavigationRequest(), resourceType: r.resourceType(), request: r })
  })
  return seen
}

/** `test-artifacts/{name}` under the repository (created on demand; gitignored). */
export function artifactPath(name: string): string {
  const dir = join(REPO_ROOT, 'test-artifacts')
  mkdirSync(dir, { recursive: true })
  return join(dir, name)
}

/** Host of a URL (`host:port`). */
export function hostOf(url: string): string {
  return new URL(url).host
}
