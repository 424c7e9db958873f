/**
 * Redirects are built, never echoed. Every Location the gateway writes goes through here: the
 * candidate is resolved the way a browser resolves it (the WHATWG URL parser, which drops tabs and
 * newlines inside URLs and reads `\` as `/`) against the URL the browser is on, and is written only
 * when it lands on the origin we mean. The written form comes out of the URL serializer, so no tab,
 * CR or LF survives (nor a backslash in the path), and a path that a browser would read as
 * scheme-relative (`//x`) is written as an absolute URL instead. Pure, no I/O.
 */

/** `candidate` as a browser on `current` resolves it, or null when it is no URL at all. */
export function resolveLikeBrowser(candidate: string, current: string | URL): URL | null {
  try {
    return new URL(candidate, current)
  } catch {
    return null
  }
}

/**
 * The shortest Location that takes a browser on `current` to `target`: the path when it cannot be
 * misread, the absolute URL otherwise. Both are checked by resolving them again.
 */
export function locationFor(target: URL, current: URL): string {
  const path = target.pathname + target.search + target.hash
  if (target.origin === current.origin && path.charCodeAt(0) === 47 /* / */ && path.charCodeAt(1) !== 47 && path.charCodeAt(1) !== 92) {
    const back = resolveLikeBrowser(path, current)
    if (back !== null && back.href === target.href) return path
  }
  return target.href
}

/**
 * A Location for `candidate` (a path or URL that came with a request, e.g. `redirect=`) that keeps
 * a browser on `current`'s origin, or `fallback` when it would leave it: another host, scheme or
 * port, userinfo, `javascript:` and the like.
 */
export function sameOriginLocation(candidate: string | null | undefined, current: URL, fallback = '/'): string {
  if (candidate === null || candidate === undefined || candidate === '' || candidate.length > 8192) return fallback
  const u = resolveLikeBrowser(candidate, current)
  if (u === null || u.origin !== current.origin || u.username !== '' || u.password !== '') return fallback
  return locationFor(u, current)
}

/**
 * The URL of this very request (`rawPath` as received, never resolved as a reference: a request
 * for `//evil.example/x` is a path on this host) on `origin`, as a Location; null when `origin` is
 * no http(s) origin.
 */
export function selfLocation(origin: string, rawPathAndQuery: string): string | null {
  const current = resolveLikeBrowser(origin, 'http://invalid.invalid/')
  if (current === null || (current.protocol !== 'http:' && current.protocol !== 'https:') || current.pathname !== '/' || current.username !== '' || current.password !== '') return null
  const target = resolveLikeBrowser(current.origin + (rawPathAndQuery.charCodeAt(0) === 47 ? rawPathAndQuery : `/${rawPathAndQuery}`), current)
  if (target === null || target.origin !== current.origin) return null
  return locationFor(target, current)
}

/** `origin` + `path` as a URL when it is an http(s) URL on `expectedHostname`, else null. */
export function absoluteOn(origin: string, path: string, expectedHostname: string): URL | null {
  const u = resolveLikeBrowser(origin + path, 'http://invalid.invalid/')
  if (u === null || u.hostname !== expectedHostname.toLowerCase() || u.username !== '' || u.password !== '') return null
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return null
  return u
}
