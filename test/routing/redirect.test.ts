/**
 * Redirects are built, never echoed: every writer of a Location (warning accept, ticket
 * redemption, login start, login callback, toolbox rewrite) is checked the way a browser follows
 * it, `new URL(location, current)`, over a generated corpus of hostile candidates: `//`, `/\`,
 * `\\`, tabs/CR/LF anywhere, `%2F`/`%5C`, `@` and userinfo, IPv6, `javascript:`, very long.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadConfig } from '../../src/config/load.js'
import type { ControlPlane } from '../../src/control-plane/types.js'
import { OidcLogin } from '../../src/auth/oidc.js'
import { LocalFleet } from '../../src/fleet/hooks.js'
import { buildResponseHeaders } from '../../src/forward/headers.js'
import { locationFor, sameOriginLocation, selfLocation } from '../../src/routing/redirect.js'
import { rng } from '../helpers/rng.js'

const T = { timeout: 30_000 }
const HERE = new URL('http://3000-sbx.preview.test:4000/accept-daytona-preview-warning')

/** Pieces an attacker strings together; browsers drop tabs/newlines and read `\` as `/`. */
const PIECES = [
  '/', '//', '\\', '/\\', '\\/', '\\\\', '///', '/./', '/../', '.', '..', '%2F', '%2f', '%5C', '%5c', '%2F%2F', '%09', '%0d%0a',
  'evil.example', 'EVIL.example', 'evil.example:443', '@', 'user:pass@', 'user@', '3000-sbx.preview.test@', '3000-sbx.preview.test:4000@',
  '[::1]', '[::ffff:127.0.0.1]', '127.0.0.1', '0x7f.1', 'http:', 'https:', 'HTTP:', 'javascript:', 'JaVaScRiPt:', 'data:', 'vbscript:', 'file:',
  'alert(1)', 'text/html,<script>', '?x=1', '#frag', ';', ' ', '\u00a0', '\u3002', 'ｅｖｉｌ.example', 'xn--e1afmkfd', 'a/b', 'ok',
]
const INVISIBLE = ['\t', '\n', '\r', '\r\n', '\x00', '\x1f', ' ']


function corpus(n: number, seed = 8): string[] {
  const r = rng(seed)
  const pick = <X>(xs: readonly X[]): X => xs[Math.floor(r() * xs.length)] as X
  const out = new Set<string>([
    '//evil.example/x', '/\\evil.example', '\\\\evil.example', '/\t/evil.example', '\t//evil.example', '/\n/evil.example', '/\r\n/evil.example',
    ' //evil.example', '\x00//evil.example', 'https://evil.example/', 'https:evil.example', 'http:/\\evil.example', 'javascript:alert(1)',
    'java\tscript:alert(1)', '//3000-sbx.preview.test@evil.example/', 'http://3000-sbx.preview.test:4000@evil.example/', 'http://[::1]/',
    'http://evil.example\\@3000-sbx.preview.test:4000/', '/%2F%2Fevil.example', '/%5C%5Cevil.example', '/.//evil.example', '/..//evil.example',
    '/' + 'a'.repeat(10_000), '//' + 'a'.repeat(5000) + '.example', '', '/', '/ok?x=1#y',
  ])
  while (out.size < n) {
    let s = ''
    const parts = 1 + Math.floor(r() * 5)
    for (let i = 0; i < parts; i++) s += pick(PIECES)
    const noise = Math.floor(r() * 3)
    for (let i = 0; i < noise; i++) {
      const at = Math.floor(r() * (s.length + 1))
      s = s.slice(0, at) + pick(INVISIBLE) + s.slice(at)
    }
    out.add(s)
  }
  return [...out]
}

/** What a browser does with the Location: it must land on `origin`, and the header must be writable. */
function assertLandsOn(location: string, current: URL, origin: string, what: string): void {
  assert.ok(!/[\x00-\x20\x7f]/.test(location), `${what}: Location holds a control or space: ${JSON.stringify(location)}`)
  assert.ok(!/^[^?#]*\\/.test(location), `${what}: backslash before the query: ${JSON.stringify(location)}`)
  const landed = new URL(location, current)
  assert.equal(landed.origin, origin, `${what}: ${JSON.stringify(location)} leaves ${origin} for ${landed.origin}`)
  assert.equal(landed.username + landed.password, '', `${what}: userinfo in ${JSON.stringify(location)}`)
}

const CASES = corpus(3000)

test('warning accept: sameOriginLocation keeps every candidate on the preview origin', T, () => {
  for (const c of CASES) assertLandsOn(sameOriginLocation(c, HERE), HERE, HERE.origin, `redirect=${JSON.stringify(c)}`)
  // Legitimate values still work.
  assert.equal(sameOriginLocation('/app?x=1#y', HERE), '/app?x=1#y')
  assert.equal(sameOriginLocation('http://3000-sbx.preview.test:4000/a/b?c', HERE), '/a/b?c')
  assert.equal(sameOriginLocation('//evil.example/x', HERE), '/')
  assert.equal(sameOriginLocation('/\t/evil.example', HERE), '/')
  assert.equal(sameOriginLocation('/\\evil.example', HERE), '/')
  // Same host, path that reads as scheme-relative: written absolute.
  assert.equal(sameOriginLocation('/.//evil.example', HERE), 'http://3000-sbx.preview.test:4000//evil.example')
})

test('ticket redemption: selfLocation is this very request on this host, whatever the path says', T, () => {
  const origin = 'http://3000-sbx.preview.test:4000'
  const current = new URL(origin + '/')
  for (const c of CASES) {
    // A raw request path: always starts with `/` and carries no control character (the parser refuses them).
    const raw = '/' + c.replace(/[\x00-\x20\x7f]/g, '')
    const loc = selfLocation(origin, raw)
    assert.ok(loc !== null, JSON.stringify(raw))
    assertLandsOn(loc, current, origin, `path ${JSON.stringify(raw)}`)
  }
  assert.equal(selfLocation(origin, '/app?a=1'), '/app?a=1')
  assert.equal(selfLocation(origin, '//evil.example/x?a=1'), 'http://3000-sbx.preview.test:4000//evil.example/x?a=1')
  assert.equal(selfLocation(origin, '/\\evil.example'), 'http://3000-sbx.preview.test:4000//evil.example')
  assert.equal(selfLocation('javascript:alert(1)', '/'), null)
})

test('locationFor: a path form only when a browser reads it back as the same URL', T, () => {
  const cur = new URL('https://a.test/x/y')
  assert.equal(locationFor(new URL('https://a.test/p?q#h'), cur), '/p?q#h')
  assert.equal(locationFor(new URL('https://a.test//b.test/p'), cur), 'https://a.test//b.test/p')
  assert.equal(locationFor(new URL('https://b.test/p'), cur), 'https://b.test/p')
})

test('login start and callback: the base-domain hop and the issuer return stay on our hosts', T, async () => {
  const config = loadConfig({ PROXY_DOMAIN: 'preview.test', PROXY_PUBLIC_PORT: '4000', SESSION_SECRET: 'x'.repeat(40) }, mkdtempSync(join(tmpdir(), 'redir-')))
  const oidc = new OidcLogin({ config, controlPlane: {} as ControlPlane, secret: 'x'.repeat(40), fleet: new LocalFleet(() => undefined) })
  const base = new URL('http://preview.test:4000/')
  for (const c of CASES) {
    const ret = `http://3000-sbx.preview.test:4000/${c.replace(/[\x00-\x20\x7f]/g, '')}`
    const loc = oidc.loginStart('preview.test', ret)
    assert.ok(loc !== null)
    assertLandsOn(loc, new URL('http://3000-sbx.preview.test:4000/'), base.origin, `login start for ${JSON.stringify(ret)}`)
    // The return URL travels intact (the base domain checks it again).
    assert.equal(new URL(loc).searchParams.get('return'), ret)
  }
  // A base domain that is not a plain host name is no login start at all.
  assert.equal(oidc.loginStart('evil.example/x@preview.test', 'http://3000-sbx.preview.test:4000/'), null)
  assert.equal(oidc.loginStart('preview.test@evil.example', 'http://3000-sbx.preview.test:4000/'), null)
  // /login refuses any return URL that is not a preview host of this gateway (the callback's Location is built from it).
  for (const c of CASES) {
    const checked = oidc.checkReturnUrl(c, 'preview.test')
    if (checked !== null) assert.match(checked.url.host, /^3000-sbx\.preview\.test:4000$|^\d+-[A-Za-z0-9_-]+\.preview\.test:4000$/, JSON.stringify(c))
  }
})

test('toolbox rewrite: a path gets the prefix and stays on the base domain; URLs are the daemon\'s own', T, () => {
  const current = new URL('http://preview.test:4000/toolbox/s1/files/x')
  const rewrite = (v: string): string => buildResponseHeaders([Buffer.from('Location'), Buffer.from(v, 'latin1')], { cors: null, setCookie: undefined, locationPrefix: '/toolbox/s1' }, 302)[1] as string
  for (const c of CASES) {
    const v = c.replace(/[\r\n\x00]/g, '') // a header value cannot hold these
    if (/[^\x00-\xff]/.test(v)) continue // header values are bytes
    const out = rewrite(v)
    if (out === v) continue // passed through: the daemon's own absolute URL, or a relative reference
    assertLandsOn(out, current, current.origin, `toolbox Location ${JSON.stringify(v)}`)
    assert.ok(out.startsWith('/toolbox/s1/') || out.startsWith('/toolbox/s1?') || out.startsWith('/toolbox/s1#') || out === '/toolbox/s1', `prefixed: ${JSON.stringify(out)}`)
  }
  // Every path-absolute candidate a browser reads as a path on this host is rewritten under the prefix.
  for (const v of ['/files', '\\files', '/\tfiles', ' /files', '/%2F/x', '/./x']) {
    const out = rewrite(v)
    assert.ok(out.startsWith('/toolbox/s1/'), `${JSON.stringify(v)} → ${JSON.stringify(out)}`)
    assertLandsOn(out, current, current.origin, JSON.stringify(v))
  }
})
