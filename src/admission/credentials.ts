import type { IncomingMessage } from 'node:http'
import type { Credentials } from '../auth/chain.js'
import { SESSION_COOKIE_PREFIX, findCookie } from '../auth/cookies.js'
import type { UpstreamBase } from '../forward/target.js'
import type { PreviewTarget } from '../routing/host-route.js'
import { QUERY_AUTH_KEY, findQueryParam, removeQueryParam } from '../routing/request-target.js'

export function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name]
  return Array.isArray(v) ? v[0] : v
}

/** `Authorization: Bearer {token}` (scheme case-insensitive), or undefined. */
export function bearerOf(req: IncomingMessage): string | undefined {
  const auth = header(req, 'authorization')
  if (auth === undefined || auth.length <= 7 || auth.slice(0, 7).toLowerCase() !== 'bearer ') return undefined
  return auth.slice(7).trim()
}

/** SPEC §3: every credential a request can carry, read once. */
export function credentialsOf(req: IncomingMessage, p: PreviewTarget): Credentials {
  return {
    bearer: bearerOf(req),
    previewToken: header(req, 'x-daytona-preview-token'),
    queryKey: p.target.hasQuery ? findQueryParam(p.target.query, QUERY_AUTH_KEY) : undefined,
    sessionCookie: findCookie(header(req, 'cookie'), SESSION_COOKIE_PREFIX + p.label),
  }
}

/** SPEC §6: raw path + query for upstream, with only our auth parameter removed. */
export function upstreamPath(b: UpstreamBase, p: PreviewTarget, c: Credentials): string {
  let query = p.target.query
  if (c.queryKey !== undefined) query = removeQueryParam(query, QUERY_AUTH_KEY)
  const path = b.prefix + (p.path === '' && b.prefix === '' ? '/' : p.path)
  return query === '' ? (p.target.hasQuery && c.queryKey === undefined ? path + '?' : path) : `${path}?${query}`
}
