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

/** `[A-Za-z0-9_-]`: the only characters an id or token label may hold (SPEC §1). */
export function isLabelChars(s: string): boolean {
  if (s.length === 0) return false
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (!((c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= CODE_0 && c <= CODE_9) || c === 45 || c === 95)) return false
  }
  return true
}

/** Parses `{port}-{idOrToken}`; the label is split at its first `-`. */
export function parsePreviewLabel(label: string): { port: number; label: string } | null {
  const dash = label.indexOf('-')
  if (dash <= 0 || dash > 5) return null
  let port = 0
  for (let i = 0; i < dash; i++) {
    const c = label.charCodeAt(i)
    if (c < CODE_0 || c > CODE_9) return null
    port = port * 10 + (c - CODE_0)
  }
  if (port < 1 || port > 65535) return null
  const rest = label.slice(dash + 1)
  if (!isLabelChars(rest)) return null
  return { port, label: rest }
}

/** Strips one `:port` suffix (IPv6 literals in brackets kept) and one trailing dot. */
export function normalizeHost(host: string): string {
  let h = host
  if (h.charCodeAt(0) === 91 /* [ */) {
    const end = h.indexOf(']')
    h = end === -1 ? h : h.slice(0, end + 1)
  } else {
    const colon = h.lastIndexOf(':')
    if (colon !== -1) h = h.slice(0, colon)
  }
  if (h.endsWith('.')) h = h.slice(0, -1)
  return h
}

/**
 * With `domains` set (PROXY_DOMAIN), only `{label}.{domain}` with exactly one label in front is a
 * preview host and only `{domain}` itself a base domain; anything else is invalid. Without, the
 * first label of any host is tried and the rest is its base domain.
 */
export function parseHost(hostHeader: string | undefined, domains: readonly string[]): HostMatch {
  if (hostHeader === undefined || hostHeader.length === 0 || hostHeader.length > 1024) return INVALID
  const original = normalizeHost(hostHeader)
  const host = original.toLowerCase()
  if (host.length === 0) return INVALID
  if (domains.length > 0) {
    for (let i = 0; i < domains.length; i++) {
      const d = domains[i] as string
      if (host === d) return { kind: 'base', baseDomain: d }
      const cut = host.length - d.length - 1
      if (cut > 0 && host.endsWith(d) && host.charCodeAt(cut) === 46 /* . */) {
        const first = original.slice(0, cut)
        if (first.indexOf('.') !== -1) return INVALID
        const parsed = parsePreviewLabel(first)
        if (parsed === null) return INVALID
        return { kind: 'preview', port: parsed.port, label: parsed.label, baseDomain: d }
      }
    }
    return INVALID
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
