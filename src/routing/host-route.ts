// routing/ owns pure reading of what a request names: host → base domain or preview target
// (host-route.ts, preview-host.ts), raw path/query (request-target.ts), built redirects (redirect.ts).
import type { IncomingMessage } from 'node:http'
import type { GatewayErrorCode } from '../errors/codes.js'
import { parseHost } from './preview-host.js'
import { hasDotSegment, splitTarget, type RequestTarget } from './request-target.js'

/** Port of the toolbox daemon: the `/toolbox/{id}/…` route and TOOLBOX_ONLY mode (SPEC §1). */
export const TOOLBOX_PORT = 2280

/** A request (or upgrade) for a sandbox port: what admission starts from. */
export interface PreviewTarget {
  readonly kind: 'preview'
  readonly label: string
  readonly port: number
  /** The `/toolbox/{id}/…` route of a base domain: no public shortcut, no signed-token step. */
  readonly toolbox: boolean
  /** Raw path after the route prefix (toolbox) or as received (preview). */
  readonly path: string
  readonly target: RequestTarget
  /** The Host header as received. */
  readonly host: string
}

/** A request for the gateway itself, answered by a row of the route table. */
export interface BaseTarget {
  readonly kind: 'base'
  readonly baseDomain: string
  readonly host: string
  readonly target: RequestTarget
}

/** Refused before any routing: the connection is closed when the request is ambiguous. */
export interface HostRefusal {
  readonly kind: 'refuse'
  readonly code: GatewayErrorCode
  readonly close: boolean
}

export type HostRoute = PreviewTarget | BaseTarget | HostRefusal

const MISSING_OR_AMBIGUOUS: HostRefusal = Object.freeze({ kind: 'refuse', code: 'BAD_REQUEST', close: true })
const INVALID_HOST: HostRefusal = Object.freeze({ kind: 'refuse', code: 'INVALID_HOST', close: false })
export const NOT_FOUND: HostRefusal = Object.freeze({ kind: 'refuse', code: 'NOT_FOUND', close: false })
/** SPEC §6: `.`/`..` segments (encoded too) could climb out of a runner prefix. */
export const DOT_SEGMENT: HostRefusal = Object.freeze({ kind: 'refuse', code: 'BAD_REQUEST', close: false })

/**
 * Header lines a request may have: node:http's own limit (maxHeadersCount 2000 names and values).
 * Node 24 answers 431 past it; Node 20 silently drops the lines after ~1024, where a second Host
 * or anything else would go unseen and unforwarded, so the gateway refuses them itself.
 */
const MAX_HEADER_LINES = 1000
const TOO_MANY_HEADERS: HostRefusal = Object.freeze({ kind: 'refuse', code: 'HEADERS_TOO_LARGE', close: true })

/** Host and Authorization are singletons (RFC 9110 §7.2, §11.6.2): two of either are ambiguous. */
function hasTwoOfASingleton(raw: readonly string[]): boolean {
  let hosts = 0
  let authorizations = 0
  for (let i = 0; i < raw.length; i += 2) {
    const k = raw[i] as string
    if (k.length === 4 && k.toLowerCase() === 'host') { if (++hosts > 1) return true }
    else if (k.length === 13 && k.toLowerCase() === 'authorization' && ++authorizations > 1) return true
  }
  return false
}

/**
 * SPEC §1 and §6, the first step of every request and upgrade: one Host (RFC 9112 §3.2), a target
 * whose authority (absolute-form) is that Host, then the host is a base domain or a preview.
 */
export function routeHost(req: IncomingMessage, domains: readonly string[], toolboxOnly: boolean): HostRoute {
  if (req.rawHeaders.length > 2 * MAX_HEADER_LINES) return TOO_MANY_HEADERS
  // Node keeps only the first of two in req.headers: one Host routed and another meant, or a
  // Basic examined and a Bearer passed on to the app unseen.
  if (hasTwoOfASingleton(req.rawHeaders)) return MISSING_OR_AMBIGUOUS
  const host = req.headers.host
  if (host === undefined) return MISSING_OR_AMBIGUOUS
  const t = splitTarget(req.url ?? '')
  if (t === null) return MISSING_OR_AMBIGUOUS
  // Otherwise one sandbox could be checked and another reached.
  if (t.authority !== undefined && t.authority.toLowerCase() !== host.toLowerCase()) return MISSING_OR_AMBIGUOUS
  const m = parseHost(host, domains)
  if (m.kind === 'invalid') return INVALID_HOST
  if (m.kind === 'base') return { kind: 'base', baseDomain: m.baseDomain, host, target: t }
  if (toolboxOnly && m.port !== TOOLBOX_PORT) return NOT_FOUND
  if (hasDotSegment(t.path)) return DOT_SEGMENT
  return { kind: 'preview', label: m.label, port: m.port, toolbox: false, path: t.path, target: t, host }
}
