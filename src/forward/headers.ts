import { STATUS_CODES } from 'node:http'
import { stripGatewayCookies, isGatewayCookie } from '../auth/cookies.js'
import { resolveLikeBrowser } from '../routing/redirect.js'

/** RFC 9110 §7.6.1 hop-by-hop fields, plus Proxy-Connection (legacy) — never forwarded. */
const HOP_BY_HOP: ReadonlySet<string> = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade',
  'proxy-authorization', 'proxy-authenticate',
])

/** Request headers the gateway sets itself, consumes, or that undici must not see. */
const REQUEST_DROP: ReadonlySet<string> = new Set([
  'host', 'expect', 'x-daytona-authorization', 'x-forwarded-host', 'x-forwarded-proto', 'x-forwarded-for',
  'x-daytona-preview-token',
  // SPEC §6 steering headers: consumed here.
  'x-daytona-skip-last-activity-update', 'x-daytona-disable-cors', 'x-daytona-skip-preview-warning',
])

export interface UpstreamHeaderOptions {
  /** Drop Authorization: the gateway examined it as a credential (SPEC §3). */
  readonly dropAuthorization: boolean
  /** Keep `Upgrade`/`Connection: upgrade` (WebSocket handshakes). */
  readonly upgrade: boolean
  readonly runnerKey: string | undefined
  readonly forwardedHost: string
  readonly forwardedProto: string
  readonly remoteAddress: string
  /** SPEC §10 TRUSTED_PROXIES: the peer is a trusted proxy; its X-Forwarded-* are kept (For appended to). */
  readonly trustForwarded: boolean
}

/** Names listed in a Connection header are hop-by-hop for this message (RFC 9110 §7.6.1). */
function connectionTokens(raw: readonly string[]): Set<string> | undefined {
  let out: Set<string> | undefined
  for (let i = 0; i < raw.length; i += 2) {
    if ((raw[i] as string).length === 10 && (raw[i] as string).toLowerCase() === 'connection') {
      for (const t of (raw[i + 1] as string).split(',')) {
        const name = t.trim().toLowerCase()
        if (name !== '' && name !== 'upgrade' && name !== 'close' && name !== 'keep-alive') (out ??= new Set()).add(name)
      }
    }
  }
  return out
}

/** Flat [name, value, …] for undici: the client's headers less everything the gateway owns. */
export function buildUpstreamHeaders(raw: readonly string[], o: UpstreamHeaderOptions): string[] {
  const out: string[] = []
  const listed = connectionTokens(raw)
  let xff: string | undefined
  let xfHost: string | undefined
  let xfProto: string | undefined
  let upgradeValue: string | undefined
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string
    const value = raw[i + 1] as string
    const lower = name.toLowerCase()
    if (HOP_BY_HOP.has(lower)) {
      if (o.upgrade && lower === 'upgrade') upgradeValue = value
      continue
    }
    if (REQUEST_DROP.has(lower)) {
      if (o.trustForwarded) {
        if (lower === 'x-forwarded-for') xff = xff === undefined ? value : `${xff}, ${value}`
        else if (lower === 'x-forwarded-host') xfHost ??= value
        else if (lower === 'x-forwarded-proto') xfProto ??= value
      }
      continue
    }
    if (listed?.has(lower)) continue
    if (lower === 'authorization' && o.dropAuthorization) continue
    if (lower === 'cookie') {
      const kept = stripGatewayCookies(value)
      if (kept !== '') out.push(name, kept)
      continue
    }
    out.push(name, value)
  }
  if (o.runnerKey !== undefined) out.push('X-Daytona-Authorization', `Bearer ${o.runnerKey}`)
  out.push('X-Forwarded-Host', xfHost ?? o.forwardedHost, 'X-Forwarded-Proto', xfProto ?? o.forwardedProto)
  out.push('X-Forwarded-For', xff === undefined ? o.remoteAddress : `${xff}, ${o.remoteAddress}`)
  if (upgradeValue !== undefined) out.push('Connection', 'Upgrade', 'Upgrade', upgradeValue)
  return out
}

/** What the gateway does to the upstream's response headers. */
export interface ResponseHeaderOptions {
  /** Replace the app's Access-Control-* with these (or just remove them, when empty). */
  readonly cors: readonly string[] | null
  readonly setCookie: string | undefined
  /** Toolbox route: prefix for 3xx `Location` paths (SPEC §6), or undefined. */
  readonly locationPrefix: string | undefined
}

/** Set-Cookie of the app: gateway names dropped; a Domain attribute removed (host-only). */
export function filterSetCookie(value: string): string | null {
  const eq = value.indexOf('=')
  const semi = value.indexOf(';')
  const name = value.slice(0, eq === -1 || (semi !== -1 && semi < eq) ? (semi === -1 ? value.length : semi) : eq).trim()
  if (isGatewayCookie(name)) return null
  if (semi === -1 || !/;\s*domain\s*=/i.test(value)) return value
  // Remove `; Domain=…`: on a shared preview domain it would spread the cookie to sibling sandboxes.
  return value.replace(/;\s*domain\s*=[^;]*/gi, '')
}

/**
 * Lengths of the response header names the gateway looks at: hop-by-hop (2 te, 7 trailer/upgrade,
 * 10 connection/keep-alive, 16-19 proxy-* and transfer-encoding), 8 location, 10 set-cookie, and
 * access-control-* (15 and over). Any other name (Date, Server, Content-Type, ETag…) is passed on as
 * sent without being lower-cased or hashed: most answers carry only those.
 */
const ACCESS_CONTROL = 'access-control-'
const LOOKED_AT = new Uint8Array(20)
for (const n of [...HOP_BY_HOP, 'location', 'set-cookie']) LOOKED_AT[n.length] = 1

function looksAt(name: string, cors: boolean): boolean {
  const len = name.length
  if (len < 20 && LOOKED_AT[len] === 1) return true
  return cors && len >= ACCESS_CONTROL.length && (name.charCodeAt(0) | 0x20) === 97 /* a */
}

/**
 * Flat string array for res.writeHead: hop-by-hop removed, cookies filtered, CORS replaced.
 * One pass, each name decoded once; names a Connection header lists (rare) are removed after.
 */
export function buildResponseHeaders(raw: readonly Buffer[], o: ResponseHeaderOptions, status: number): string[] {
  const out: string[] = []
  const cors = o.cors !== null
  let listed: Set<string> | undefined
  for (let i = 0; i < raw.length; i += 2) {
    const name = (raw[i] as Buffer).toString('latin1')
    if (!looksAt(name, cors)) {
      out.push(name, (raw[i + 1] as Buffer).toString('latin1'))
      continue
    }
    const lower = name.toLowerCase()
    if (HOP_BY_HOP.has(lower)) {
      if (lower === 'connection') {
        // `Connection: keep-alive` (almost every answer) names nothing more to remove: no Set, no second pass.
        for (const t of (raw[i + 1] as Buffer).toString('latin1').split(',')) {
          const n = t.trim().toLowerCase()
          if (n !== '' && n !== 'close' && !HOP_BY_HOP.has(n)) (listed ??= new Set()).add(n)
        }
      }
      continue
    }
    let value = (raw[i + 1] as Buffer).toString('latin1')
    if (lower === 'set-cookie') {
      const v = filterSetCookie(value)
      if (v === null) continue
      value = v
    } else if (cors && lower.startsWith(ACCESS_CONTROL)) {
      continue
    } else if (lower === 'location' && o.locationPrefix !== undefined && status >= 300 && status < 400) {
      value = toolboxLocation(value, o.locationPrefix)
    }
    out.push(name, value)
  }
  const kept = listed === undefined ? out : withoutListed(out, listed)
  if (o.cors !== null) for (let i = 0; i < o.cors.length; i++) kept.push(o.cors[i] as string)
  if (o.setCookie !== undefined) kept.push('Set-Cookie', o.setCookie)
  return kept
}

/**
 * A response head written by hand (answers to upgrades): node:http's raw header strings through the
 * same filters as any answer, then `extra` (name, value, …).
 */
export function rawResponseHead(status: number, raw: readonly string[], o: ResponseHeaderOptions, extra: readonly string[]): string {
  const buffers: Buffer[] = new Array(raw.length)
  for (let i = 0; i < raw.length; i++) buffers[i] = Buffer.from(raw[i] as string, 'latin1')
  const headers = buildResponseHeaders(buffers, o, status)
  for (let i = 0; i < extra.length; i++) headers.push(extra[i] as string)
  let s = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Unknown'}\r\n`
  for (let i = 0; i < headers.length; i += 2) s += `${headers[i]}: ${headers[i + 1]}\r\n`
  return `${s}\r\n`
}

function withoutListed(flat: readonly string[], listed: ReadonlySet<string>): string[] {
  const out: string[] = []
  for (let i = 0; i < flat.length; i += 2) {
    if (!listed.has((flat[i] as string).toLowerCase())) out.push(flat[i] as string, flat[i + 1] as string)
  }
  return out
}

const TOOLBOX_ORIGIN = new URL('http://toolbox.invalid/')
/** What browsers ignore in a URL: tabs and newlines anywhere, C0 controls and spaces in front. */
const URL_IGNORED = /^[\u0000-\u0020]+|[\t\n\r]/g

/**
 * SPEC §6: a toolbox redirect to a path gets the `/toolbox/{id}` prefix. The path is taken as a
 * browser reads it (`\` is `/`, tabs dropped) and written back serialized, so the rewritten
 * Location stays on the base domain; absolute and scheme-relative URLs are the daemon's own.
 */
function toolboxLocation(value: string, prefix: string): string {
  const u = resolveLikeBrowser(value, TOOLBOX_ORIGIN)
  if (u === null || u.origin !== TOOLBOX_ORIGIN.origin) return value
  const c = value.replace(URL_IGNORED, '').charCodeAt(0)
  if (c !== 47 /* / */ && c !== 92 /* \ */) return value // relative: already under the current toolbox URL
  const path = u.pathname + u.search + u.hash
  return isUnder(path, prefix) ? path : prefix + path
}

/** `/toolbox/a/x` is under `/toolbox/a`; `/toolbox/ab` is not. */
function isUnder(path: string, prefix: string): boolean {
  if (!path.startsWith(prefix)) return false
  const next = path.charCodeAt(prefix.length)
  return Number.isNaN(next) || next === 47 /* / */ || next === 63 /* ? */ || next === 35 /* # */
}
