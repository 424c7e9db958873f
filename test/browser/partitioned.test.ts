/**
 * SPEC §3 "Cookies stay where they belong" over https, with COOKIE_PARTITIONED=true, in a Chromium
 * that blocks third-party cookies: a signed link embedded in a cross-site iframe gets a
 * `Secure; SameSite=None; Partitioned` (CHIPS) session cookie, and the iframe's next requests
 * carry it — while an app cookie without `Partitioned` is refused (the control showing that
 * third-party cookies really are blocked). Also: over https Chromium sends Sec-Fetch-*, so a
 * fetch() that asks for text/html is still told apart from a navigation (401, not a login).
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import type { Browser, Frame, Page, Request } from 'playwright-core'
import { FakeControlPlane } from '../fakes/control-plane.js'
import { FakeOidcIssuer } from '../fakes/oidc-issuer.js'
import { ensureChromium, launchChromium } from '../helpers/chromium.js'
import type { GatewayProcess } from '../helpers/gateway.js'
import { freePort, newId, newToken } from '../helpers/http.js'
import { AppRunner } from './support/app-runner.js'
import { OtherSite } from './support/other-site.js'
import { makeWildcardCert, startTlsGateway } from './support/tls.js'

const skip = await ensureChromium()
const T = { timeout: 45_000 }

describe('partitioned session cookies in a cross-site iframe over https', { skip: skip ?? false, timeout: 150_000 }, () => {
  let cp: FakeControlPlane
  let issuer: FakeOidcIssuer
  let app: AppRunner
  let other: OtherSite
  let gw: GatewayProcess
  let browser: Browser
  let gwPort: number

  before(async () => {
    const tls = makeWildcardCert()
    cp = await FakeControlPlane.start()
    issuer = await FakeOidcIssuer.start({ browserHost: 'issuer.test' })
    app = await AppRunner.start()
    other = await OtherSite.start({ cert: tls.cert, key: tls.key })
    gwPort = await freePort()
    gw = await startTlsGateway({
      DAYTONA_API_URL: cp.url,
      PROXY_API_KEY: cp.apiKey,
      PROXY_DOMAIN: 'preview.test',
      PROXY_PORT: String(gwPort),
      PROXY_PUBLIC_PORT: String(gwPort),
      COOKIE_PARTITIONED: 'true',
      SESSION_SECRET: 'partitioned-browser-test-secret-0123456789',
      LOG_LEVEL: 'info',
      // OIDC is on (a navigation without credentials is sent to the login); the issuer itself is
      // only contacted by /login, which these tests do not follow.
      OIDC_DOMAIN: issuer.issuer,
      OIDC_CLIENT_ID: issuer.clientId,
      OIDC_CLIENT_SECRET: issuer.clientSecret ?? '',
    }, tls)
    browser = await launchChromium({ extraArgs: ['--ignore-certificate-errors', '--test-third-party-cookie-phaseout'] })
  })
  after(async () => {
    await browser?.close()
    await gw?.stop()
    await other?.close()
    await app?.close()
    await cp?.close()
    await issuer?.close()
  })

  const previewUrl = (port: number, label: string, path = '/'): string => `https://${port}-${label}.preview.test:${gwPort}${path}`

  function sandbox(): string {
    const id = newId('sbx')
    cp.addSandbox(id, { public: false, previewTokens: [newToken('pt')], runner: app.runnerInfo })
    return id
  }

  function previewFrame(page: Page): Frame {
    const f = page.frames().find((x) => x.url().includes('.preview.test:'))
    assert.ok(f !== undefined, `an iframe on the preview host (frames: ${page.frames().map((x) => x.url()).join(', ')})`)
    return f
  }

  async function cookieHeader(r: Request): Promise<string> {
    return (await r.allHeaders())['cookie'] ?? ''
  }

  test('a signed link in a cross-site iframe keeps its partitioned session across requests', T, async () => {
    const id = sandbox()
    const token = newToken('sgn')
    cp.addSignedToken(token, { sandboxId: id, port: 3000 })
    const context = await browser.newContext({ ignoreHTTPSErrors: true })
    context.setDefaultTimeout(10_000)
    try {
      const page = await context.newPage()
      const requests: Request[] = []
      page.on('request', (r) => { requests.push(r) })
      const first = previewUrl(3000, token, '/first?appcookies=1')
      await page.goto(other.embedUrl(first), { waitUntil: 'load' })
      const frame = previewFrame(page)
      await frame.locator('#app').waitFor()
      assert.match((await frame.locator('#app').textContent()) ?? '', new RegExp(`App of ${id}:3000`))
      await frame.waitForFunction("document.getElementById('fetch-result').textContent !== 'pending'", undefined, { timeout: 10_000 })
      assert.match((await frame.locator('#fetch-result').textContent()) ?? '', /^200 application\/json /)

      // The session cookie: Secure, SameSite=None, HttpOnly, host-only, partitioned by the top site.
      const cookies = await context.cookies()
      const session = cookies.find((c) => c.name === `daytona-sandbox-auth-${token}`)
      assert.ok(session !== undefined, `the partitioned session cookie was stored in the third-party iframe (have: ${cookies.map((c) => `${c.name}@${c.domain}${c.partitionKey === undefined ? '' : ` [${c.partitionKey}]`}`).join(', ')})`)
      assert.equal(session.domain, `3000-${token}.preview.test`, 'host-only')
      assert.equal(session.secure, true, 'Secure over https')
      assert.equal(session.sameSite, 'None', 'SameSite=None over https (previews live in iframes)')
      assert.equal(session.httpOnly, true, 'HttpOnly')
      assert.ok(session.partitionKey !== undefined && session.partitionKey.includes('other.test'), `partitioned under the embedding site (partitionKey ${session.partitionKey})`)
      // Control: the app's own unpartitioned SameSite=None cookie is blocked in this browser.
      assert.ok(!cookies.some((c) => c.name === 'app-none'), 'third-party cookies are blocked (an unpartitioned cookie is refused)')
      assert.ok(cookies.some((c) => c.name === 'app-part'), 'while a partitioned one is kept')

      // The iframe's later requests carry the session: the app's fetch and the next page.
      const fetchReq = requests.find((r) => r.url() === previewUrl(3000, token, '/api/data'))
      assert.ok(fetchReq !== undefined, 'the app fetched /api/data')
      assert.match(await cookieHeader(fetchReq), new RegExp(`daytona-sandbox-auth-${token}=`), 'the fetch carried the session')
      const [second] = await Promise.all([
        page.waitForRequest((r) => r.url() === previewUrl(3000, token, '/second')),
        frame.locator('#next').click(),
      ])
      const secondRes = await second.response()
      assert.ok(secondRes !== null)
      assert.equal(secondRes.status(), 200)
      assert.match(await cookieHeader(second), new RegExp(`daytona-sandbox-auth-${token}=`), 'the next navigation in the iframe carried the session')
      assert.doesNotMatch(await cookieHeader(second), /app-none=/, 'the blocked cookie is never sent')
      await frame.locator('#app').waitFor()
      assert.equal(await frame.locator('#path').textContent(), '/second')
      for (const r of app.requests(id)) assert.doesNotMatch(r.headers.cookie ?? '', /daytona-/, 'the session cookie never reaches the app')

      // The partition is the embedding site's: a top-level visit does not see that cookie.
      const top = await context.newPage()
      const topRequests: Request[] = []
      top.on('request', (r) => { topRequests.push(r) })
      await top.goto(previewUrl(3000, token, '/top'))
      const topReq = topRequests.find((r) => r.url() === previewUrl(3000, token, '/top'))
      assert.ok(topReq !== undefined)
      assert.doesNotMatch(await cookieHeader(topReq), new RegExp(`daytona-sandbox-auth-${token}=`), 'the iframe\'s partitioned cookie is not sent top-level')
    } finally {
      await context.close()
    }
  })

  test('over https a fetch() asking for text/html without credentials gets 401, not a login redirect', T, async () => {
    const id = sandbox()
    const token = newToken('sgn')
    cp.addSignedToken(token, { sandboxId: id, port: 3000 })
    const priv = sandbox()
    issuer.autoApprove = false
    const context = await browser.newContext({ ignoreHTTPSErrors: true })
    context.setDefaultTimeout(10_000)
    try {
      const page = await context.newPage()
      await page.goto(previewUrl(3000, token, '/'))
      await page.locator('#app').waitFor()
      await page.waitForFunction("document.getElementById('fetch-result').textContent !== 'pending'", undefined, { timeout: 10_000 })
      // Same origin, no credentials (the token host authenticates by its label, so use a private id host cross-origin).
      const target = previewUrl(3000, priv, '/api/data')
      const seen = page.waitForResponse((r) => r.url() === target)
      const kind = await page.evaluate(async (u: string) => {
        const r = await fetch(u, { mode: 'no-cors', credentials: 'include', headers: { accept: 'text/html' } })
        return r.type
      }, target)
      assert.equal(kind, 'opaque')
      const res = await seen
      const appFetch = app.requests(id).find((r) => r.rest === '/api/data')
      assert.equal(appFetch?.headers['sec-fetch-mode'], 'cors', 'Chromium sends Sec-Fetch-Mode over https (seen by the app on its own fetch)')
      assert.equal(res.status(), 401, 'a fetch is never redirected to the login')
      assert.equal(app.requests(priv).length, 0)

      // …whereas a navigation to the same URL is sent to the login (OIDC is configured).
      const nav = await context.newPage()
      const [login] = await Promise.all([
        nav.waitForRequest((r) => r.url().startsWith(`https://preview.test:${gwPort}/login?return=`)),
        nav.goto(target).catch(() => null),
      ])
      const hop = login.redirectedFrom()
      assert.ok(hop !== null && hop.url() === target, 'the navigation was redirected to the base-domain login')
      assert.equal((await hop.response())?.status(), 302)
    } finally {
      await context.close()
    }
  })
})
