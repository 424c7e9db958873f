/** SPEC §3 step 4: the gateway's own session cookie is `daytona-sandbox-auth-{label}` (minted by session.ts). */
export const SESSION_COOKIE_PREFIX = 'daytona-sandbox-auth-'
/** The warning-accept cookie (SPEC §6) and the prefix of login-flow cookies (SPEC §4). */
export const WARNING_COOKIE = 'daytona-preview-page-accepted'
export const LOGIN_COOKIE_PREFIX = 'daytona-proxy-'

/** Every cookie the gateway owns: never forwarded to a sandbox, never set by one. */
export function isGatewayCookie(name: string): boolean {
  return name.startsWith(SESSION_COOKIE_PREFIX) || name === WARNING_COOKIE || name.startsWith(LOGIN_COOKIE_PREFIX)
}

/** Value of cookie `name` in a Cookie header, or undefined. Values are taken as sent. */
export function findCookie(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined
  let from = 0
  while (from < header.length) {
    let end = header.indexOf(';', from)
    if (end === -1) end = header.length
    let start = from
    while (start < end && (header.charCodeAt(start) === 32 || header.charCodeAt(start) === 9)) start++
    const eq = header.indexOf('=', start)
    if (eq !== -1 && eq < end && eq - start === name.length && header.startsWith(name, start)) {
      return header.slice(eq + 1, end).trim()
    }
    from = end + 1
  }
  return undefined
}

/**
 * The Cookie header without the gateway's cookies; the app's pairs pass byte for byte.
 * Returns the header itself when nothing is removed (no allocation), '' when nothing is left.
 */
export function stripGatewayCookies(header: string): string {
  if (header.indexOf(SESSION_COOKIE_PREFIX) === -1 && header.indexOf(WARNING_COOKIE) === -1 && header.indexOf(LOGIN_COOKIE_PREFIX) === -1) return header
  const kept: string[] = []
  for (const part of header.split(';')) {
    const pair = part.trim()
    if (pair === '') continue
    const eq = pair.indexOf('=')
    const name = eq === -1 ? pair : pair.slice(0, eq)
    if (!isGatewayCookie(name.trim())) kept.push(pair)
  }
  return kept.join('; ')
}

export interface CookieOptions {
  readonly secure: boolean
  readonly maxAgeSec: number
  readonly domain?: string
  readonly path?: string
  readonly partitioned?: boolean
}

/** SPEC §3: HttpOnly always; Secure + SameSite=None over https, Lax over http; host-only unless a domain is given. */
export function serializeCookie(name: string, value: string, o: CookieOptions): string {
  let s = `${name}=${value}; Path=${o.path ?? '/'}; Max-Age=${o.maxAgeSec}; HttpOnly`
  if (o.domain !== undefined) s += `; Domain=${o.domain}`
  s += o.secure ? '; Secure; SameSite=None' : '; SameSite=Lax'
  if (o.partitioned === true && o.secure) s += '; Partitioned'
  return s
}
