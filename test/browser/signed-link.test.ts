/**
 * SPEC §1 (signed-token hosts), §3 step 5 and §4 "never a login loop", in a real browser: a signed
 * preview link embedded in an iframe of another site loads the app (page, script and the app's own
 * fetch); an expired, revoked or wrong-port link shows the invalid-link page, top level or framed,
 * and never starts a login.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import type { Browser, BrowserContext, Frame, Page } from 'playwright-core'
import { ensureChromium, launchChromium } from '../helpers/chromium.js'
import { newToken } from '../helpers/http.js'
import { ISSUER_BROWSER_HOST, artifactPath, recordRequests, startBrowserStack } from './support/env.js'
import type { BrowserStack, SeenRequest } from './support/env.js'
import { OtherSite } from './support/other-site.js'

const skip = await ensureChromium()
const T = { timeout: 45_000 }

describe('signed preview links in the browser', { skip: skip ?? false, timeout: 150_000 }, () => {
  let env: BrowserStack
  let other: OtherSite
  let browser: Browser

  before(async () => {
    env = await startBrowserStack({ oidc: true })
    other = await OtherSite.start()
    browser = await launchChromium()
  })
  after(async () => {
    await browser?.close()
    await other?.close()
    await env?.close()
  })

  async function freshContext(): Promise<{ context: BrowserContext; page: Page; seen: SeenRequest[] }> {
    const context = await browser.newContext()
    context.setDefaultTimeout(10_000)
    context.setDefaultNavigationTimeout(15_000)
    const seen = recordRequests(context)
    return { context, page: await context.newPage(), seen }
  }

  function signedLink(sandboxId: string, port: number, o: { expired?: boolean; revoked?: boolean } = {}): string {
    const token = newToken('sgn')
    env.stack.cp.addSignedToken(token, { sandboxId, port, ...o })
    return token
  }

  function previewFrame(page: Page): Frame {
    const f = page.frames().find((x) => x.url().includes('.preview.test:'))
    assert.ok(f !== undefined, `an iframe on the preview host (frames: ${page.frames().map((x) => x.url()).join(', ')})`)
    return f
  }

  function noLogin(seen: readonly SeenRequest[]): void {
    const logins = seen.filter((s) => { const u = new URL(s.url); return u.pathname === '/login' || u.pathname === '/callback' || u.hostname === ISSUER_BROWSER_HOST })
    assert.deepEqual(logins.map((s) => s.url), [], 'no login was started (no login loop)')
  }

  test('a signed link loads inside an iframe of another site', T, async () => {
    const sbx = env.sandbox()
    const token = signedLink(sbx.id, 3000)
    const { context, page, seen } = await freshContext()
    try {
      const src = env.previewUrl(3000, token, '/embedded?from=iframe')
      await page.goto(other.embedUrl(src), { waitUntil: 'load' })
      await page.locator('#outer').waitFor()
      const frame = previewFrame(page)
      assert.equal(frame.url(), src, 'the iframe stayed on the signed link (no redirect)')
      await frame.locator('#app').waitFor()
      assert.match((await frame.locator('#app').textContent()) ?? '', new RegExp(`App of ${sbx.id}:3000`), 'the signed token was resolved to the sandbox')
      assert.equal(await frame.locator('#path').textContent(), '/embedded?from=iframe')
      await frame.waitForFunction("document.getElementById('fetch-result').textContent !== 'pending'", undefined, { timeout: 10_000 })
      const fetched = (await frame.locator('#fetch-result').textContent()) ?? ''
      assert.match(fetched, /^200 application\/json /, `the app's own fetch works inside the cross-site iframe: ${fetched}`)

      const doc = seen.find((s) => s.url === src)
      assert.ok(doc !== undefined, 'the iframe document was requested')
      const res = await doc.request.response()
      assert.ok(res !== null)
      assert.equal(res.status(), 200)
      const h = await res.allHeaders()
      assert.equal(h['x-frame-options'], undefined, 'the gateway adds no X-Frame-Options')
      assert.doesNotMatch(h['content-security-policy'] ?? '', /frame-ancestors/, 'nor a frame-ancestors policy')
      noLogin(seen)
      for (const r of env.app.requests(sbx.id)) {
        assert.ok(!r.url.includes(token), 'the signed token is not part of the upstream path')
        assert.doesNotMatch(r.headers.cookie ?? '', /daytona-/, 'no gateway cookie reaches the app')
      }
    } finally {
      await context.close()
    }
  })

  test('an expired, revoked or wrong-port signed link shows the invalid-link page, never a login', T, async () => {
    const sbx = env.sandbox()
    const cases = [
      { what: 'expired', token: signedLink(sbx.id, 3000, { expired: true }), port: 3000 },
      { what: 'revoked', token: signedLink(sbx.id, 3000, { revoked: true }), port: 3000 },
      { what: 'other port', token: signedLink(sbx.id, 3000), port: 3001 },
    ]
    const { context, page, seen } = await freshContext()
    try {
      for (const c of cases) {
        const url = env.previewUrl(c.port, c.token, '/deep/link?q=1')
        const res = await page.goto(url)
        assert.ok(res !== null)
        assert.equal(page.url(), url, `${c.what}: no redirect (at ${page.url()})`)
        assert.equal(res.request().redirectedFrom(), null, `${c.what}: not redirected`)
        assert.equal(res.status(), 401, `${c.what}: 401`)
        const h = await res.allHeaders()
        assert.match(h['content-type'] ?? '', /^text\/html/, `${c.what}: an HTML page`)
        assert.equal(h['x-preview-error'], 'INVALID_LINK', `${c.what}: INVALID_LINK`)
        assert.match(h['cache-control'] ?? '', /no-store/)
        assert.ok(((await page.locator('body').textContent()) ?? '').includes('INVALID_LINK'), `${c.what}: the page carries the INVALID_LINK code`)
        if (c.what === 'expired') await page.screenshot({ path: artifactPath('invalid-link.png') })
      }

      // The same inside another site's iframe.
      const expired = cases[0]
      assert.ok(expired !== undefined)
      const src = env.previewUrl(3000, expired.token, '/framed')
      await page.goto(other.embedUrl(src), { waitUntil: 'load' })
      const frame = previewFrame(page)
      assert.equal(frame.url(), src, 'the iframe was not redirected')
      const framed = seen.find((x) => x.url === src)
      assert.equal((await framed?.request.response())?.status(), 401, 'the framed answer is a 401')
      await frame.locator('body').waitFor()
      assert.match((await frame.locator('body').textContent()) ?? '', /INVALID_LINK/, 'the framed page is the invalid-link page')

      noLogin(seen)
      assert.equal(env.app.requests(sbx.id).length, 0, 'the app was never reached')
      assert.ok(!(await context.cookies()).some((k) => k.name.startsWith('daytona-sandbox-auth-')), 'no session was minted')
    } finally {
      await context.close()
    }
  })
})
