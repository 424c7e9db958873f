/**
 * The request target as raw bytes (SPEC §6: path and query forwarded byte for byte, never
 * decoded and re-encoded). Only our own query parameters are ever cut out.
 */
export const QUERY_AUTH_KEY = 'DAYTONA_SANDBOX_AUTH_KEY'

export interface RequestTarget {
  /** Raw path, always starting with `/`. */
  readonly path: string
  /** Raw query without `?`, or '' when absent. */
  readonly query: string
  readonly hasQuery: boolean
}

/** Origin-form `/p?q` or absolute-form `http://h/p?q` (authority returned for the Host check). */
export function splitTarget(url: string): (RequestTarget & { authority: string | undefined }) | null {
  let rest = url
  let authority: string | undefined
  if (url.charCodeAt(0) !== 47 /* / */) {
    const m = /^https?:\/\/([^/?#]*)/i.exec(url)
    if (m === null) return null // asterisk-form, authority-form or garbage
    authority = m[1] as string
    rest = url.slice(m[0].length)
    if (rest === '' || rest.charCodeAt(0) === 63 /* ? */) rest = '/' + rest
  }
  const q = rest.indexOf('?')
  if (q === -1) return { path: rest, query: '', hasQuery: false, authority }
  return { path: rest.slice(0, q), query: rest.slice(q + 1), hasQuery: true, authority }
}

function decodeValue(v: string): string {
  try { return decodeURIComponent(v.replace(/\+/g, ' ')) } catch { return v }
}

/** First value of `name` in a raw query (name compared as sent), or undefined. */
export function findQueryParam(query: string, name: string): string | undefined {
  if (query.indexOf(name) === -1) return undefined
  for (const part of query.split('&')) {
    if (part.length > name.length && part.charCodeAt(name.length) === 61 /* = */ && part.startsWith(name)) return decodeValue(part.slice(name.length + 1))
    if (part === name) return ''
  }
  return undefined
}

/** The query without any `name[=…]` pair; every other byte kept as it was. */
export function removeQueryParam(query: string, name: string): string {
  if (query.indexOf(name) === -1) return query
  const kept: string[] = []
  for (const part of query.split('&')) {
    if (part === name || (part.startsWith(name) && part.charCodeAt(name.length) === 61)) continue
    kept.push(part)
  }
  return kept.join('&')
}

const SEPARATOR = /%2f|%5c|\\/gi

/**
 * SPEC §6: a `.` or `..` segment, raw or percent-encoded (`%2e`, `.%2E`, …; `%2F`, `%5C` and `\`
 * count as separators) is refused, so the upstream path always stays under the sandbox prefix.
 */
export function hasDotSegment(path: string): boolean {
  if (path.indexOf('.') === -1 && path.indexOf('%') === -1) return false
  const normalized = path.replace(SEPARATOR, '/')
  for (const seg of normalized.split('/')) {
    if (seg.length === 0 || seg.length > 6) continue
    const s = seg.replace(/%2e/gi, '.')
    if (s === '.' || s === '..') return true
  }
  return false
}
