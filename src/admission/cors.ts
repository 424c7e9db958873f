import type { IncomingMessage, ServerResponse } from 'node:http'
import { parseHost } from '../routing/preview-host.js'

/**
 * SPEC §6 CORS. Preflights are answered here and never need credentials. Credentialed CORS is
 * granted to any origin when the gateway's own cookie did not authenticate the request; a
 * cookie-authenticated response is granted only to preview hosts of the same sandbox and to
 * CORS_ALLOWED_ORIGINS (otherwise a page on any site could read a private preview with the
 * visitor's session). `Origin: null` is never granted.
 */
export class CorsPolicy {
  #allowed: ReadonlySet<string>
  #domains: readonly string[]

  constructor(allowedOrigins: readonly string[], domains: readonly string[]) {
    this.#allowed = new Set(allowedOrigins)
    this.#domains = domains
  }

  isAllowedOrigin(origin: string): boolean {
    return this.#allowed.has(origin)
  }

  /** Is `origin` a preview host (any port) of `sandboxId`, or an explicitly allowed origin? */
  isSameSandboxOrigin(origin: string, sandboxId: string, label: string): boolean {
    if (this.#allowed.has(origin)) return true
    const sep = origin.indexOf('://')
    if (sep === -1) return false
    const m = parseHost(origin.slice(sep + 3), this.#domains)
    return m.kind === 'preview' && (m.label === sandboxId || m.label === label)
  }

  /** Headers to put on a proxied response (replacing the app's Access-Control-*). */
  responseHeaders(origin: string, grant: boolean): readonly string[] {
    if (!grant || origin === 'null') return VARY_ONLY
    return ['Access-Control-Allow-Origin', origin, 'Access-Control-Allow-Credentials', 'true', 'Vary', 'Origin']
  }

  /** Answers a preflight: 204, the requested method and headers allowed for a non-null origin. */
  answerPreflight(req: IncomingMessage, res: ServerResponse, origin: string): void {
    res.statusCode = 204
    res.setHeader('Vary', 'Origin, Access-Control-Request-Method, Access-Control-Request-Headers')
    res.setHeader('Cache-Control', 'no-store')
    if (origin !== 'null') {
      res.setHeader('Access-Control-Allow-Origin', origin)
      res.setHeader('Access-Control-Allow-Credentials', 'true')
      res.setHeader('Access-Control-Allow-Methods', req.headers['access-control-request-method'] ?? 'GET')
      const h = req.headers['access-control-request-headers']
      if (h !== undefined) res.setHeader('Access-Control-Allow-Headers', h)
      res.setHeader('Access-Control-Max-Age', '600')
      if (req.headers['access-control-request-private-network'] === 'true') res.setHeader('Access-Control-Allow-Private-Network', 'true')
    }
    res.end()
  }
}

const VARY_ONLY: readonly string[] = Object.freeze(['Vary', 'Origin'])

export function isPreflight(req: IncomingMessage): boolean {
  return req.method === 'OPTIONS' && req.headers.origin !== undefined && req.headers['access-control-request-method'] !== undefined
}
