/**
 * Open redirects, from outside the process: the login round trip (preview → base-domain /login →
 * issuer → /callback → ticket redemption) for preview paths a browser reads as scheme-relative,
 * the warning accept route with hostile `redirect=` values, and the toolbox Location rewrite.
 * Every Location is followed the way a browser does, `new URL(location, current)`.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { FakeOidcIssuer } from '../fakes/oidc-issuer.js'
import { startStack } from '../helpers/stack.js'
import type { Stack } from '../helpers/stack.js'
import { request } from '../helpers/http.js'
import type { Reply } from '../helpers/http.js'

const T = { timeout: 30_000 }
const NAV = { 'sec-fetch-mode': 'navigate', 'sec-fetch-dest': 'document', 'sec-fetch-site': 'none', accept: 'text/html', 'user-agent': 'Mozilla/5.0 (test)' }

/** Where a browser on `current` goes with this answer's Location. */
function follow(r: Reply, current: string): URL {
  assert.ok(r.status >= 300 && r.status < 400, `expected a redirect from ${current}, got ${r.status} ${r.text.slice(0, 200)}`)
  const loc = r.headers.location
  assert.ok(typeof loc === 'string' && loc.length > 0, 'Location present')
  assert.ok(!/[\x00-\x20\x7f]/.test(loc), `Location has no control character: ${JSON.stringify(loc)}`)
  return new URL(loc, current)
}

function cookiesOf(r: Reply): string {
  const set = r.headers['set-cookie'] ?? []
  return set.map((c) => c.split(';')[0]).join('; ')
}

describe('open redirects: every Location the gateway writes lands on the host we mean', () => {
  let s: Stack
  let issuer: FakeOidcIssuer

  before(async () => {
    issuer = await FakeOidcIssuer.start()
    s = await startStack({
      PREVIEW_WARNING_ENABLED: 'true',
      OIDC_DOMAIN: issuer.issuer,
      OIDC_CLIENT_ID: issuer.clientId,
      OIDC_CLIENT_SECRET: issuer.clientSecret ?? '',
    })
  })
  after(async () => {
    await s?.close()
    await issuer?.close()
  })

  /** One whole login for `path` on a private preview; returns the final Location as the browser resolves it. */
  async function loginRoundTrip(host: string, path: string): Promise<URL> {
    const start = await s.send(host, path, { headers: NAV })
    const toLogin = follow(start, `http://${host}/`)
    assert.equal(toLogin.host, 'preview.test', 'the login hop goes to the base domain')
    const login = await s.send('preview.test', toLogin.pathname + toLogin.search, { headers: NAV })
    const toIssuer = follow(login, toLogin.href)
    assert.equal(toIssuer.origin, issuer.issuer, 'then to the issuer')
    const authorize = await request({ port: issuer.port, host: toIssuer.host, path: toIssuer.pathname + toIssuer.search, headers: NAV })
    const toCallback = follow(authorize, toIssuer.href)
    assert.equal(toCallback.host, 'preview.test')
    const callback = await s.send('preview.test', toCallback.pathname + toCallback.search, { headers: { ...NAV, cookie: cookiesOf(login) } })
    const toPreview = follow(callback, toCallback.href)
    assert.equal(toPreview.host, host, 'the callback hands the login back to the preview host')
    const redeem = await s.send(host, toPreview.pathname + toPreview.search, { headers: NAV })
    const final = follow(redeem, toPreview.href)
    assert.match(cookiesOf(redeem), /daytona-sandbox-auth-/, 'the preview host set its session')
    return final
  }

  for (const path of ['//evil.example/x', '//evil.example/x?a=1&b=2', '/\\evil.example/', '/%2F%2Fevil.example', '//evil.example:443/', '///evil.example/']) {
    test(`login round trip for ${JSON.stringify(path)} comes back to the preview host, same path`, T, async () => {
      const sbx = s.sandbox({ bearers: [issuer.accessToken] })
      const host = s.host(3000, sbx.id)
      const final = await loginRoundTrip(host, path)
      assert.equal(final.host, host, `lands on ${final.href}`)
      assert.equal(final.protocol, 'http:')
      assert.equal(final.searchParams.get('DAYTONA_PREVIEW_LOGIN_TICKET'), null, 'the ticket is gone from the URL')
      // The browser's next request is for the very path it asked for, on the preview host.
      assert.equal(final.pathname + final.search, new URL(`http://${host}${path}`).pathname + new URL(`http://${host}${path}`).search)
    })
  }

  test('warning accept: hostile redirect= values never leave the preview host', T, async () => {
    const sbx = s.sandbox({ public: true })
    const host = s.host(3000, sbx.id)
    const values = [
      '//evil.example/', '/\\evil.example', '\\\\evil.example', '/\t/evil.example', '\t//evil.example', '/\n/evil.example', '/\r\n/evil.example',
      ' //evil.example', 'https://evil.example/', 'https:evil.example', 'http:/\\evil.example', 'javascript:alert(1)', 'java\tscript:alert(1)',
      `http://${host}@evil.example/`, `//${host}@evil.example/`, 'http://[::1]/', `http://evil.example\\@${host}/`, '/%2F%2Fevil.example', '/.//evil.example',
      '/' + 'a'.repeat(6000),
    ]
    for (const v of values) {
      const r = await s.send(host, `/accept-daytona-preview-warning?redirect=${encodeURIComponent(v)}`, { method: 'POST', headers: { origin: `http://${host}` } })
      assert.equal(r.status, 303, JSON.stringify(v))
      const landed = follow(r, `http://${host}/accept-daytona-preview-warning`)
      assert.equal(landed.host, host, `redirect=${JSON.stringify(v)} → ${r.headers.location}`)
    }
    const ok = await s.send(host, `/accept-daytona-preview-warning?redirect=${encodeURIComponent(`http://${host}/app?x=1`)}`, { method: 'POST', headers: { origin: `http://${host}` } })
    assert.equal(ok.headers.location, '/app?x=1', 'a same-host URL is kept')
  })

  test('toolbox Location rewrite: paths a browser reads as paths stay under /toolbox/{id} on the base domain', T, async () => {
    const sbx = s.sandbox()
    for (const v of ['/files', '\\files', '/\\evil.example', '/%2F/x']) {
      const r = await s.send('preview.test', `/toolbox/${sbx.id}/redirect?loc=${encodeURIComponent(v)}`, { headers: { 'x-daytona-preview-token': sbx.token } })
      const landed = follow(r, `http://preview.test/toolbox/${sbx.id}/redirect`)
      if (v === '/\\evil.example') continue // scheme-relative to a browser: the daemon's own absolute URL, passed through untouched
      assert.equal(landed.host, 'preview.test', `${JSON.stringify(v)} → ${r.headers.location}`)
      assert.ok(landed.pathname.startsWith(`/toolbox/${sbx.id}/`), `${JSON.stringify(v)} → ${r.headers.location}`)
    }
  })
})
