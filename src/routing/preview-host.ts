/** SPEC §1: which host is a preview, which is a base domain, which is neither. Pure, no I/O. */

export interface PreviewHost {
  readonly kind: 'preview'
  readonly port: number
  /** The part of the first label after `{port}-`: a sandbox id or a signed token, case as sent. */
  readonly label: string
  /** Lower-cased base domain (the host without its first label, `:port` and trailing dot). */
  readonly baseDomain: string
}

export interface BaseHost {
  readonly kind: 'base'
  readonly baseDomain: string
}

export interface InvalidHost {
  readonly kind: 'invalid'
}

export type HostMatch = PreviewHost | BaseHost | InvalidHost

const INVALID: InvalidHost = Object.freeze({ kind: 'invalid' })
const CODE_0 = 48
const CODE_9 = 57

/** `[A-Za-z0-9_-]`, one character. */
function isLabelCode(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= CODE_0 && c <= CODE_9) || c === 45 || c === 95
}

/** `[A-Za-z0-9_-]`: the only characters an id or token label may hold (SPEC §1). */
export function isLabelChars(s: string): boolean {
  if (s.length === 0) return false
  for (let i = 0; i < s.length; i++) if (!isLabelCode(s.charCodeAt(i))) return false
  return true
}

/** The number the digits of s[from, to) spell, or -1 when one is not a digit (port-sized: callers bound the length). */
function digitsValue(s: string, from: number, to: number): number {
  let n = 0
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i)
    if (c < CODE_0 || c > CODE_9) return -1
    n = n * 10 + (c - CODE_0)
  }
  return n
}

/** Parses `{port}-{idOrToken}`; the label is split at its first `-`. */
export function parsePreviewLabel(label: string): { port: number; label: string } | null {
  const dash = label.indexOf('-')
  if (dash <= 0 || dash > 5) return null
  const port = digitsValue(label, 0, dash)
  if (port < 1 || port > 65535) return null
  const rest = label.slice(dash + 1)
  if (!isLabelChars(rest)) return null
  return { port, label: rest }
}

/**
 * The host of a Host header (RFC 9110 §7.2: `uri-host [ ":" port ]`), without its port and one
 * trailing dot, or null when it is not one: a name of letters, digits, `-`, `_` and dots, or a
 * bracketed IPv6 literal, then digits only after the colon. Anything else (`h:@evil`, `h/x`) would
 * turn into another host when a redirect or X-Forwarded-Host is built from it.
 */
export function normalizeHost(host: string): string | null {
  let end = host.length
  let h: string
  if (host.charCodeAt(0) === 91 /* [ */) {
    const close = host.indexOf(']')
    if (close === -1 || !isIpv6Chars(host, 1, close)) return null
    h = host.slice(0, close + 1)
    if (close + 1 < end && !isPort(host, close + 1)) return null
    return h
  }
  const colon = host.indexOf(':')
  if (colon !== -1) {
    if (!isPort(host, colon)) return null
    end = colon
  }
  if (end > 0 && host.charCodeAt(end - 1) === 46 /* . */) end--
  h = end === host.length ? host : host.slice(0, end)
  return isNameChars(h) ? h : null
}

/** `:` then at most five digits up to 65535 (an empty port is allowed, RFC 3986 §3.2.3). */
function isPort(s: string, colon: number): boolean {
  if (s.charCodeAt(colon) !== 58 /* : */ || s.length - colon - 1 > 5) return false
  const port = digitsValue(s, colon + 1, s.length)
  return port >= 0 && port <= 65535
}

/** `[A-Za-z0-9._-]`: labels and the dots between them (DNS names, IPv4 literals). */
function isNameChars(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c !== 46 /* . */ && !isLabelCode(c)) return false
  }
  return true
}

/** Hex digits, `:` and `.` (an embedded IPv4) between the brackets. */
function isIpv6Chars(s: string, from: number, to: number): boolean {
  if (to <= from) return false
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i)
    if (!((c >= CODE_0 && c <= CODE_9) || (c >= 97 && c <= 102) || (c >= 65 && c <= 70) || c === 58 || c === 46)) return false
  }
  return true
}

/**
 * With `domains` set (PROXY_DOMAIN), only `{label}.{domain}` with exactly one label in front is a
 * preview host and only `{domain}` itself a base domain; anything else is invalid. When one domain
 * sits inside another (`preview.test`, `eu.preview.test`), the longest that matches is the host's.
 * Without, the first label of any host is tried and the rest is its base domain.
 */
export function parseHost(hostHeader: string | undefined, domains: readonly string[]): HostMatch {
  if (hostHeader === undefined || hostHeader.length === 0 || hostHeader.length > 1024) return INVALID
  const original = normalizeHost(hostHeader)
  if (original === null || original.length === 0) return INVALID
  const host = original.toLowerCase()
  if (domains.length > 0) {
    let best: string | undefined
    for (let i = 0; i < domains.length; i++) {
      const d = domains[i] as string
      if (best !== undefined && d.length <= best.length) continue
      const cut = host.length - d.length - 1
      if (host === d || (cut > 0 && host.endsWith(d) && host.charCodeAt(cut) === 46 /* . */)) best = d
    }
    if (best === undefined) return INVALID
    if (host.length === best.length) return { kind: 'base', baseDomain: best }
    const first = original.slice(0, host.length - best.length - 1)
    if (first.indexOf('.') !== -1) return INVALID
    const parsed = parsePreviewLabel(first)
    if (parsed === null) return INVALID
    return { kind: 'preview', port: parsed.port, label: parsed.label, baseDomain: best }
  }
  const dot = original.indexOf('.')
  if (dot <= 0) return { kind: 'base', baseDomain: host }
  const first = original.slice(0, dot)
  const parsed = parsePreviewLabel(first)
  if (parsed === null) return looksLikePreviewLabel(first) ? INVALID : { kind: 'base', baseDomain: host }
  return { kind: 'preview', port: parsed.port, label: parsed.label, baseDomain: host.slice(dot + 1) }
}

/** `{digits}-…`: meant as a preview label even when malformed (bad port, empty id, bad chars). */
function looksLikePreviewLabel(label: string): boolean {
  const c = label.charCodeAt(0)
  return c >= CODE_0 && c <= CODE_9 && label.indexOf('-') !== -1
}
