/**
 * SPEC §6 "Preview warning" and §7 HTML error pages in a real browser: the interstitial is shown
 * in place to the first navigation, accepted with its button (same-origin POST), then the app
 * loads and stays loaded across reloads; the app's fetch() calls and assets never get it; a
 * cross-site (or sibling-preview) form cannot accept it. Screenshots of the warning page and of
 * error pages go to test-artifacts/.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { ensureChromium, launchChromium } from '../helpers/chromium.js'
import { freePort, newId } from '../helpers/http.js'
import { artifactPath, recordRequests, startBrowserStack } from './support/env.js'
import type { BrowserStack, SeenRequest } from './support/env.js'
import { OtherSite } from './support/other-site.js'

const skip = await ensureChromium()
const T = { timeout: 45_000 }
const ACCEPT_COOKIE = 'daytona-preview-page-accepted'
const WARNING_H1 = 'You are about to open a preview'

describe('preview warning page (SPEC §6) and error pages (SPEC §7)', { skip: skip ?? false, timeout: 150_000 }, () => {
  let env: BrowserStack
  let other: OtherSite
  let browser: Browser

  before(async () => {
    env = await startBrowserStack({ env: { PREVIEW_WARNING_ENABLED: 'true' } })
    other = await OtherSite.start()
    browser = await launchChromium()
  })
  after(async () => {
    await browser?.close()
    await other?.close()
    await env?.close()
  })

  async function freshContext(o: { bypassCSP?: boolean } = {}): Promise<{ context: BrowserContext; page: Page; seen: SeenRequest[] }> {
    const context = await browser.newContext({ bypassCSP: o.bypassCSP === true })
    context.setDefaultTimeout(10_000)
    context.setDefaultNavigationTimeout(15_000)
    const seen = recordRequests(context)
    return { context, page: await context.newPage(), seen }
  }

  /** The first request seen so far or from now on that matches. */
  async function waitForSeen(seen: SeenRequest[], pred: (s: SeenRequest) => boolean): Promise<SeenRequest> {
    const found = seen.find(pred)
    if (found !== undefined) return found
    const page = seen[0]?.request.frame().page()
    assert.ok(page !== undefined)
    const req = await page.waitForRequest((r) => pred({ url: r.url(), method: r.method(), navigation: r.isNavigationRequest(), resourceType: r.resourceType(), request: r }))
    return { url: req.url(), method: req.method(), navigation: req.isNavigationRequest(), resourceType: req.resourceType(), request: req }
  }

  /** What reached the app, apart from the browser's own favicon probe (an asset: forwarded). */
  function appPaths(id: string): string[] {
    return env.app.requests(id).map((r) => r.rest).filter((p) => p !== '/favicon.ico')
  }

  async function h1(page: Page): Promise<string> {
    return (await page.locator('h1').first().textContent()) ?? ''
  }

  async function appFetchDone(page: Page): Promise<string> {
    await page.waitForFunction("document.getElementById('fetch-result').textContent !== 'pending'", undefined, { timeout: 10_000 })
    return (await page.locator('#fetch-result').textContent()) ?? ''
  }

  /**
   * Accepts the warning from the warning page itself the way its form should: a same-origin POST
   * whose Origin is this host (the fetch asks for `referrerPolicy: 'same-origin'` so that Chromium
   * sends a real Origin; the page's CSP is bypassed in this context to allow the fetch). The
   * browser stores the cookie from the answer.
   */
  async function acceptLikeTheForm(page: Page): Promise<void> {
    const action = await page.locator('form').getAttribute('action')
    assert.ok(action !== null, 'on the warning page')
    const out = await page.evaluate(async (a: string) => {
      const r = await fetch(a, { method: 'POST', redirect: 'manual', referrerPolicy: 'same-origin', credentials: 'same-origin' })
      return r.type === 'opaqueredirect' ? 'redirect' : `${r.status} ${await r.text()}`
    }, action)
    assert.equal(out, 'redirect', 'a same-origin POST with a real Origin accepts the warning')
  }

  test('the warning is shown in place, and its button leads to the app', T, async () => {
    const sbx = env.sandbox({ public: true })
    const { context, page, seen } = await freshContext()
    try {
      const start = env.previewUrl(3000, sbx.id, '/start?a=1&b=%20')
      const res = await page.goto(start)
      assert.ok(res !== null)
      assert.equal(res.status(), 200, 'the warning is a 200 answer')
      assert.equal(res.request().redirectedFrom(), null, 'in place: no redirect')
      assert.equal(page.url(), start)
      const h = await res.allHeaders()
      assert.match(h['content-type'] ?? '', /^text\/html/)
      assert.match(h['cache-control'] ?? '', /no-store/)
      assert.equal(await h1(page), WARNING_H1)
      const action = await page.locator('form').getAttribute('action')
      assert.equal(await page.locator('form').getAttribute('method'), 'post')
      assert.ok(action !== null && action.startsWith('/accept-daytona-preview-warning?redirect='), `the form posts to the accept route on this host: ${action}`)
      assert.equal(new URLSearchParams(action.slice(action.indexOf('?') + 1)).get('redirect'), start, 'carrying the original URL')
      assert.deepEqual(appPaths(sbx.id), [], 'nothing reached the app before acceptance')
      await page.screenshot({ path: artifactPath('warning-page.png'), fullPage: true })

      // Accept with the button: a same-origin POST, then back to the original URL and the app.
      await page.locator('button[type=submit]').click()
      const accept = await waitForSeen(seen, (s) => s.method === 'POST' && new URL(s.url).pathname === '/accept-daytona-preview-warning')
      const acceptRes = await accept.request.response()
      assert.ok(acceptRes !== null)
      const sentOrigin = await accept.request.headerValue('origin')
      assert.ok([302, 303, 307].includes(acceptRes.status()),
        `clicking the warning page's own button must accept it (SPEC §6); got ${acceptRes.status()} ${(await acceptRes.allHeaders())['x-preview-error'] ?? ''}, the browser sent Origin: ${sentOrigin} (warning page Referrer-Policy: ${h['referrer-policy'] ?? 'none'})`)
      await page.waitForURL(start)
      await page.locator('#app').waitFor()
      assert.match(await h1(page), new RegExp(`App of ${sbx.id}:3000`))
      assert.equal(await page.locator('#path').textContent(), '/start?a=1&b=%20', 'the app got the original path and query')
      assert.ok(!env.app.requests(sbx.id).some((r) => r.rest.startsWith('/accept-daytona-preview-warning')), 'the accept POST is the gateway\'s, not forwarded')
      const cookie = (await context.cookies()).find((c) => c.name === ACCEPT_COOKIE)
      assert.ok(cookie !== undefined, 'the accept cookie is set')
      assert.equal(cookie.httpOnly, true, 'HttpOnly')
      assert.ok(!cookie.domain.startsWith('.'), `host-only without COOKIE_DOMAIN (${cookie.domain})`)
      assert.ok(cookie.expires > Date.now() / 1000 + 23 * 3600, 'valid for about 24 h')
      assert.match(await appFetchDone(page), /^200 application\/json \{"app":"fake-app"/)
    } finally {
      await context.close()
    }
  })

  test('once accepted: a reload does not show it again; the app\'s fetch() and assets never get it', T, async () => {
    const sbx = env.sandbox({ public: true })
    const { context, page } = await freshContext({ bypassCSP: true })
    try {
      const start = env.previewUrl(3000, sbx.id, '/app')
      await page.goto(start)
      assert.equal(await h1(page), WARNING_H1, 'first navigation: the warning')
      await acceptLikeTheForm(page)
      const cookie = (await context.cookies()).find((c) => c.name === ACCEPT_COOKIE)
      assert.ok(cookie !== undefined && cookie.httpOnly && !cookie.domain.startsWith('.'), 'a host-only HttpOnly accept cookie')

      await page.reload()
      await page.locator('#app').waitFor()
      assert.match(await h1(page), new RegExp(`App of ${sbx.id}:3000`))
      const fetched = await appFetchDone(page)
      assert.match(fetched, /^200 application\/json \{"app":"fake-app"/, `the app's fetch got the app: ${fetched}`)

      // A reload does not show it again.
      await page.reload()
      await page.locator('#app').waitFor()
      assert.match(await appFetchDone(page), /^200 application\/json \{"app":"fake-app"/)

      // Without the cookie, the app's own fetch() and a script it loads still get the app…
      await context.clearCookies({ name: ACCEPT_COOKIE })
      await page.locator('#refetch').click()
      await page.waitForFunction("document.getElementById('late').textContent === 'late script ran' || document.getElementById('late').textContent === 'late script failed'", undefined, { timeout: 10_000 })
      assert.equal(await page.locator('#late').textContent(), 'late script ran', 'an asset never gets the warning')
      assert.match(await appFetchDone(page), /^200 application\/json \{"app":"fake-app"/, 'a fetch() never gets the warning')
      // …while the next navigation shows the warning again (the cookie is what skips it).
      await page.reload()
      assert.equal(await h1(page), WARNING_H1)
    } finally {
      await context.close()
    }
  })

  test('a cross-site or sibling-preview form POST to the accept route gets 403', T, async () => {
    const sbx = env.sandbox({ public: true })
    const { context, page } = await freshContext()
    try {
      const target = env.previewUrl(3000, sbx.id, `/accept-daytona-preview-warning?redirect=${encodeURIComponent(env.previewUrl(3000, sbx.id, '/'))}`)
      const sibling = `3000-${newId('sibling')}.preview.test`
      for (const formPage of [other.postUrl(target), other.postUrl(target, sibling)]) {
        await page.goto(formPage)
        const [res] = await Promise.all([
          page.waitForResponse((r) => r.url() === target && r.request().method() === 'POST'),
          page.locator('#go').click(),
        ])
        assert.equal(res.status(), 403, `403 for a form on ${new URL(formPage).host}`)
        const h = await res.allHeaders()
        assert.equal(h['location'], undefined, 'no redirect')
        assert.equal(h['x-preview-error'], 'FORBIDDEN')
        await page.waitForURL(target)
        assert.ok(!(await context.cookies()).some((c) => c.name === ACCEPT_COOKIE), 'no accept cookie')
      }
      await page.goto(env.previewUrl(3000, sbx.id, '/'))
      assert.equal(await h1(page), WARNING_H1, 'the warning still shows')
      assert.deepEqual(appPaths(sbx.id), [], 'nothing reached the app')
    } finally {
      await context.close()
    }
  })

  test('the 403 of a refused accept (a form navigation) is an HTML page (SPEC §7)', T, async () => {
    const sbx = env.sandbox({ public: true })
    const { context, page } = await freshContext()
    try {
      const target = env.previewUrl(3000, sbx.id, `/accept-daytona-preview-warning?redirect=${encodeURIComponent(env.previewUrl(3000, sbx.id, '/'))}`)
      await page.goto(other.postUrl(target))
      const [res] = await Promise.all([
        page.waitForResponse((r) => r.url() === target && r.request().method() === 'POST'),
        page.locator('#go').click(),
      ])
      assert.equal(res.status(), 403)
      const type = (await res.allHeaders())['content-type'] ?? ''
      assert.match(type, /^text\/html/, `a form POST is a navigation: "Navigations get a small HTML page" (got ${type})`)
    } finally {
      await context.close()
    }
  })

  test('error pages: 502 for a stopped sandbox, 401 for a private one (screenshots)', T, async () => {
    const deadPort = await freePort()
    const stopped = env.sandbox({ public: true, runner: { id: newId('dead-runner'), proxyUrl: `http://127.0.0.1:${deadPort}`, apiUrl: `http://127.0.0.1:${deadPort}`, apiKey: 'dead-runner-key' } })
    const priv = env.sandbox()
    const { context, page } = await freshContext({ bypassCSP: true })
    try {
      // A stopped sandbox: the warning, then the 502 page once accepted.
      const url = env.previewUrl(3000, stopped.id, '/')
      await page.goto(url)
      assert.equal(await h1(page), WARNING_H1)
      await acceptLikeTheForm(page)
      const res = await page.reload()
      assert.ok(res !== null)
      assert.equal(res.status(), 502)
      const h = await res.allHeaders()
      assert.match(h['content-type'] ?? '', /^text\/html/)
      assert.equal(h['x-preview-error'], 'UPSTREAM_UNREACHABLE')
      assert.match(h['cache-control'] ?? '', /no-store/)
      const body = (await page.locator('body').textContent()) ?? ''
      assert.ok(body.includes('UPSTREAM_UNREACHABLE'), 'the page carries the error code (SPEC §7)')
      assert.ok(!body.includes(String(deadPort)) && !body.includes('dead-runner-key'), 'no upstream address or runner key on the page')
      await page.screenshot({ path: artifactPath('error-502-stopped-sandbox.png'), fullPage: true })

      // A private sandbox without credentials (no OIDC configured here): the 401 page.
      const res401 = await page.goto(env.previewUrl(3000, priv.id, '/'))
      assert.ok(res401 !== null)
      assert.equal(res401.status(), 401)
      assert.equal((await res401.allHeaders())['x-preview-error'], 'UNAUTHORIZED')
      assert.ok(((await page.locator('body').textContent()) ?? '').includes('UNAUTHORIZED'), 'the page carries the error code')
      await page.screenshot({ path: artifactPath('error-401-unauthorized.png'), fullPage: true })
    } finally {
      await context.close()
    }
  })
})
