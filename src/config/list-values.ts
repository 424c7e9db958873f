import { parseTrustedProxy } from './trusted-proxy-entry.js'

// The comma-separated keys, split and checked one entry at a time (one problem line per bad entry).

const DOMAIN_RE = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/

/** PROXY_DOMAIN: lower-cased, without a trailing dot. */
export function parseDomains(value: string | undefined, problems: string[]): string[] {
  const domains: string[] = []
  if (value === undefined) return domains
  for (const part of value.split(',')) {
    const d = part.trim().toLowerCase().replace(/\.$/, '')
    if (!DOMAIN_RE.test(d)) problems.push(`PROXY_DOMAIN: ${JSON.stringify(part.trim())} is not a domain name`)
    else domains.push(d)
  }
  return domains
}

/**
 * COOKIE_DOMAIN: a domain name (a leading dot, as cookies allow, is dropped); it is written into
 * Set-Cookie, so anything else (`x;Path=/;SameSite=None`) would add attributes. Empty: unset.
 */
export function parseCookieDomain(value: string | undefined, problems: string[]): string | undefined {
  if (value === undefined || value === '') return undefined
  const d = value.trim().toLowerCase().replace(/^\./, '')
  if (DOMAIN_RE.test(d)) return d
  problems.push(`COOKIE_DOMAIN: ${JSON.stringify(value)} is not a domain name`)
  return undefined
}

/** TRUSTED_PROXIES: IPs and CIDRs, kept as written (forward/trusted-proxies.ts builds the matcher). */
export function parseTrustedProxies(value: string | undefined, problems: string[]): string[] {
  const entries: string[] = []
  for (const part of (value ?? '').split(',')) {
    const e = part.trim()
    if (e === '') continue
    if (parseTrustedProxy(e) === null) problems.push(`TRUSTED_PROXIES: ${JSON.stringify(e)} is not an IP address or CIDR`)
    else entries.push(e)
  }
  return entries
}

/** CORS_ALLOWED_ORIGINS: each entry normalised to its origin (`scheme://host[:port]`). */
export function parseOrigins(value: string | undefined, problems: string[]): string[] {
  const origins: string[] = []
  if (value === undefined) return origins
  for (const part of value.split(',')) {
    const o = part.trim()
    if (o === '') continue
    let u: URL | undefined
    try { u = new URL(o) } catch { /* reported below */ }
    if (u === undefined || (u.protocol !== 'http:' && u.protocol !== 'https:') || u.origin === 'null') problems.push(`CORS_ALLOWED_ORIGINS: ${JSON.stringify(o)} is not an origin (scheme://host[:port])`)
    else origins.push(u.origin)
  }
  return origins
}
