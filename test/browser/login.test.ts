/**
 * SPEC §3 step 6 and §4 in a real browser: a private preview opened in Chromium goes
 * preview host → base-domain /login → issuer /authorize (PKCE S256) → base-domain /callback →
 * preview host with a one-time ticket → the app, with a host-only HttpOnly session cookie that no
 * other sandbox or port sees or accepts. Open redirects, fetch() without a session and failed
 * callbacks never end in a redirect off the gateway.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import type { Browser, BrowserContext, Page, Request, Response } from 'playwright-core'
import { ensureChromium, launchChromium } from '../helpers/chromium.js'
import { AUDIENCE, ISSUER_BROWSER_HOST, artifactPath, hostOf, recordRequests, startBrowserStack } from './support/env.js'
import type { BrowserStack, SeenRequest } from './support/env.js'
import type { FakeOidcIssuer } from '../fakes/oidc-issuer.js'

const skip = await ensureChromium()
const T = { timeout: 45_000 }
const SESSION_PREFIX = 'daytona-sandbox-auth-'
const TICKET = 'DAYTONA_PREVIEW_LOGIN_TICKET'

/** The requests of a navigation's redirect chain, first to last. */
function redirectChain(res: Response): Request[] {
  const chain: Request[] = []
  let r: Request | null = res.request()
  while (r !== null) {
    chain.unshift(r)
    r = r.redirectedFrom()
  }
  return chain
}

function urlsOf(seen: readonly SeenRequest[], pred: (u: URL) => boolean): string[] {
  return seen.filter((s) => s.navigation && pred(new URL(s.url))).map((s) => s.url)
}

async function text(page: Page, selector: string): Promise<string> {
  return (await page.locator(selector).first().textContent({ timeout: 10_000 })) ?? ''
}

/** Waits until the app's own fetch (started by /app.js) has written its answer. */
async function waitForAppFetch(page: Page): Promise<string> {
  await page.waitForFunction("document.getElementById('fetch-result') !== null && document.getElementById('fetch-result').textContent !== 'pending'", undefined, { timeout: 10_000 })
  return text(page, '#fetch-result')
}

describe('browser login through the OIDC issuer (SPEC §4)', { skip: skip ?? false, timeout: 180_000 }, () => {
  let env: BrowserStack
  let issuer: FakeOidcIssuer
  let browser: Browser

  before(async () => {
    env = await startBrowserStack({ oidc: true })
    if (env.issuer === undefined) throw new Error('issuer missing')
    issuer = env.issuer
    browser = await launchChromium()
  })
  after(async () => {
    await browser?.close()
    await env?.close()
  })

  async function freshContext(): Promise<{ context: BrowserContext; page: Page; seen: SeenRequest[] }> {
    const context = await browser.newContext()
    context.setDefaultTimeout(10_000)
    context.setDefaultNavigationTimeout(15_000)
    const seen = recordRequests(context)
    const page = await context.newPage()
    return { context, page, seen }
  }

  /** Opens a private preview and follows the whole login; returns the final response. */
  async function login(page: Page, url: string): Promise<Response> {
    const res = await page.goto(url)
    assert.ok(res !== null, 'navigation has a response')
    return res
  }

  test('a private preview logs in through the issuer and lands on the app page', T, async () => {
    const sbx = env.sandbox()
    const { context, page, seen } = await freshContext()
    try {
      const authBefore = issuer.authorizations.length
      const tokensBefore = issuer.tokens.length
      const start = env.previewUrl(3000, sbx.id, '/welcome?x=1&y=%2Fz')
      const res = await login(page, start)

      // Lands on the app, at the very URL that was opened, with the ticket gone.
      assert.equal(res.status(), 200, `final status (${res.url()})`)
      assert.equal(page.url(), start, 'back on the original URL, without the ticket parameter')
      assert.match(await text(page, '#app'), new RegExp(`App of ${sbx.id}:3000`))
      assert.equal(await text(page, '#path'), '/welcome?x=1&y=%2Fz', 'the app saw the original path and query, byte for byte')
      const fetched = await waitForAppFetch(page)
      assert.match(fetched, /^200 application\/json /, `the app's own fetch() is authenticated by the session: ${fetched}`)

      // The hops, in order: preview → base /login → issuer /authorize → base /callback → ticket → app.
      const chain = redirectChain(res).map((r) => new URL(r.url()))
      const hops = chain.map((u) => `${u.host}${u.pathname}`)
      assert.deepEqual(hops, [
        `3000-${sbx.id}.preview.test:${env.gwPort}/welcome`,
        `preview.test:${env.gwPort}/login`,
        `${ISSUER_BROWSER_HOST}:${issuer.port}/authorize`,
        `preview.test:${env.gwPort}/callback`,
        `3000-${sbx.id}.preview.test:${env.gwPort}/welcome`,
        `3000-${sbx.id}.preview.test:${env.gwPort}/welcome`,
      ], 'redirect chain')
      const loginHop = chain[1] as URL
      assert.equal(loginHop.searchParams.get('return'), start, '/login carries the original URL (with the public port) as return')
      const ticketHop = chain[4] as URL
      assert.ok((ticketHop.searchParams.get(TICKET) ?? '').length > 20, 'the callback hands over a ticket in the reserved parameter')
      assert.equal(ticketHop.searchParams.get('x'), '1', 'the ticket URL keeps the original query')
      for (const r of redirectChain(res).slice(0, -1)) {
        const hop = await r.response()
        assert.ok(hop !== null)
        assert.ok([302, 303, 307].includes(hop.status()), `redirect status ${hop.status()} for ${r.url()}`)
        if (hostOf(r.url()).endsWith(`preview.test:${env.gwPort}`)) {
          assert.match(hop.headers()['cache-control'] ?? '', /no-store/, `gateway redirect is no-store: ${r.url()}`)
        }
      }
      assert.equal(urlsOf(seen, (u) => u.pathname === '/login').length, 1, 'exactly one login round (no loop)')

      // What the issuer saw: PKCE S256, state, nonce, audience, the fixed redirect URI.
      assert.equal(issuer.authorizations.length, authBefore + 1, 'one authorization request')
      const a = issuer.authorizations.at(-1)
      assert.ok(a !== undefined)
      assert.equal(a.codeChallengeMethod, 'S256', 'PKCE method S256')
      assert.match(a.codeChallenge ?? '', /^[A-Za-z0-9_-]{43}$/, 'a base64url SHA-256 code challenge')
      assert.ok((a.state ?? '').length >= 16, 'a state')
      assert.ok((a.nonce ?? '').length >= 16, 'a nonce')
      assert.equal(a.audience, AUDIENCE, 'OIDC_AUDIENCE is sent as audience')
      assert.equal(a.clientId, issuer.clientId)
      assert.equal(a.redirectUri, env.baseUrl('/callback'), 'redirect URI from configuration, with PROXY_PUBLIC_PORT')
      assert.equal(a.responseType, 'code')
      assert.ok(a.scope.split(' ').includes('openid'), 'scope has openid')
      assert.equal(issuer.tokens.length, tokensBefore + 1, 'one token exchange')
      const tok = issuer.tokens.at(-1)
      assert.ok(tok !== undefined && tok.ok, `the token exchange succeeded: ${JSON.stringify(tok)}`)
      assert.ok(tok.pkceVerified, 'the code_verifier matched the S256 challenge')
      assert.notEqual(tok.clientAuth, 'none', 'the confidential client authenticated')

      // The access check used the (opaque) access token, with the user's bearer.
      const access = env.stack.cp.calls(`/preview/${sbx.id}/access`)
      assert.ok(access.some((c) => c.headers.authorization === `Bearer ${issuer.accessToken}`), '/preview/{id}/access with the access token')

      // Cookies: the session is host-only on this preview host, HttpOnly; no cookie spans hosts.
      const cookies = await context.cookies()
      const session = cookies.find((c) => c.name === `${SESSION_PREFIX}${sbx.id}`)
      assert.ok(session !== undefined, `a session cookie was set (have: ${cookies.map((c) => `${c.name}@${c.domain}`).join(', ')})`)
      assert.equal(session.domain, `3000-${sbx.id}.preview.test`, 'host-only session cookie (no Domain attribute)')
      assert.equal(session.httpOnly, true, 'HttpOnly')
      assert.equal(session.secure, false, 'no Secure over http')
      assert.equal(session.sameSite, 'Lax', 'SameSite=Lax over http')
      for (const c of cookies) {
        assert.ok(!c.domain.startsWith('.'), `cookie ${c.name} is host-only (domain ${c.domain})`)
        if (c.name.startsWith('daytona-')) assert.equal(c.httpOnly, true, `${c.name} is HttpOnly`)
      }
      assert.deepEqual((await context.cookies(env.previewUrl(3000, 'othersandbox'))).map((c) => c.name), [], 'no cookie is sent to another sandbox')
      assert.deepEqual((await context.cookies(env.previewUrl(3001, sbx.id))).map((c) => c.name), [], 'no cookie is sent to another port of the sandbox')
      assert.ok(!(await context.cookies(env.previewUrl(3000, sbx.id))).some((c) => c.name.startsWith('daytona-proxy-')), 'login cookies are not visible to the preview host')

      // The app never saw the ticket, a gateway cookie or the access token.
      const appReqs = env.app.requests(sbx.id)
      assert.ok(appReqs.length >= 3, 'the app served the page, its script and its fetch')
      for (const r of appReqs) {
        assert.ok(!r.url.includes(TICKET), `no ticket reaches the app: ${r.url}`)
        assert.doesNotMatch(r.headers.cookie ?? '', /daytona-/, 'no gateway cookie reaches the app')
        assert.ok(!(r.headers.authorization ?? '').includes(issuer.accessToken), 'the access token never reaches the app')
      }
    } finally {
      await context.close()
    }
  })

  test('the same browser is not logged in on another sandbox or another port of the same sandbox', T, async () => {
    const a = env.sandbox()
    const b = env.sandbox() // the user may see b too: only the session's scope keeps it out
    const { context, page } = await freshContext()
    try {
      await login(page, env.previewUrl(3000, a.id))
      assert.match(await text(page, '#app'), new RegExp(`App of ${a.id}:3000`))
      const session = (await context.cookies()).find((c) => c.name === `${SESSION_PREFIX}${a.id}`)
      assert.ok(session !== undefined, 'logged in on a')

      issuer.autoApprove = false
      try {
        for (const url of [env.previewUrl(3000, b.id), env.previewUrl(3001, a.id)]) {
          const res = await page.goto(url)
          assert.ok(res !== null)
          assert.equal(hostOf(page.url()), `${ISSUER_BROWSER_HOST}:${issuer.port}`, `${url} sends the browser to the issuer, not the app (at ${page.url()})`)
          await page.locator('#issuer-login').waitFor()
          const hops = redirectChain(res).map((r) => new URL(r.url()).pathname)
          assert.ok(hops.includes('/login'), `a new login started for ${url}`)
        }
        assert.equal(env.app.requests(b.id).length, 0, 'sandbox b served nothing')
        assert.ok(!env.app.requests(a.id).some((r) => r.port === '3001'), 'port 3001 of a served nothing')

        // Replaying a's session value on b's host and on a's other port is refused as well.
        await context.addCookies([
          { name: `${SESSION_PREFIX}${b.id}`, value: session.value, domain: `3000-${b.id}.preview.test`, path: '/', httpOnly: true, sameSite: 'Lax' },
          { name: `${SESSION_PREFIX}${a.id}`, value: session.value, domain: `3001-${a.id}.preview.test`, path: '/', httpOnly: true, sameSite: 'Lax' },
        ])
        for (const url of [env.previewUrl(3000, b.id, '/replayed'), env.previewUrl(3001, a.id, '/replayed')]) {
          await page.goto(url)
          assert.equal(hostOf(page.url()), `${ISSUER_BROWSER_HOST}:${issuer.port}`, `a replayed session is not accepted at ${url}`)
        }
        assert.equal(env.app.requests(b.id).length, 0, 'sandbox b still served nothing')

        // Signing in on the issuer's page completes that login (interactive flow), for port 3001 only.
        await page.locator('#approve').click()
        await page.waitForURL(env.previewUrl(3001, a.id, '/replayed'))
        assert.match(await text(page, '#app'), new RegExp(`App of ${a.id}:3001`))
      } finally {
        issuer.autoApprove = true
      }
    } finally {
      await context.close()
    }
  })

  test('/login refuses open redirects: 400, no redirect off the gateway', T, async () => {
    const sbx = env.sandbox()
    const { context, page, seen } = await freshContext()
    const gw = env.gwPort
    const bad = [
      'https://evil.test/',
      `http://evil.test:${gw}/`,
      `http://3000-${sbx.id}.other.test:${gw}/`,
      `http://3000-${sbx.id}.preview.test.evil.test:${gw}/`,
      `http://3000-${sbx.id}.preview.test:${gw}@evil.test/`,
      `http://evil.test/#http://3000-${sbx.id}.preview.test:${gw}/`,
      `//evil.test/`,
      `/\\evil.test/`,
      `http://preview.test:${gw}/`,
      `http://3000-${sbx.id}.preview.test:1/`,
      'javascript:alert(document.cookie)',
      '',
    ]
    try {
      const authBefore = issuer.calls('/authorize').length
      // The literal form from the brief, unencoded.
      const targets = [env.baseUrl('/login?return=https://evil.test/'), env.baseUrl('/login'), ...bad.map((b) => env.baseUrl(`/login?return=${encodeURIComponent(b)}`))]
      for (const url of targets) {
        const res = await page.goto(url)
        assert.ok(res !== null)
        assert.equal(res.status(), 400, `400 for ${url}`)
        assert.equal(res.request().redirectedFrom(), null, `no redirect for ${url}`)
        assert.equal(page.url(), url, 'the browser stays on the gateway')
        assert.equal(res.headers()['location'], undefined, 'no Location')
        assert.match(res.headers()['content-type'] ?? '', /^text\/html/, 'an HTML error page for a navigation')
        assert.ok((res.headers()['x-preview-error'] ?? '').length > 0, 'with an error code')
      }
      const offGateway = seen.filter((s) => { const h = new URL(s.url).hostname; return h.endsWith('evil.test') || h.endsWith('other.test') || h === ISSUER_BROWSER_HOST })
      assert.deepEqual(offGateway.map((s) => s.url), [], 'the browser never left the gateway')
      assert.equal(issuer.calls('/authorize').length, authBefore, 'no authorization request was started')
      assert.ok(!(await context.cookies()).some((c) => c.name.startsWith('daytona-proxy-')), 'no login cookie for a refused return URL')
    } finally {
      await context.close()
    }
  })

  test('fetch() from the app page without a session gets 401 JSON, never a redirect', T, async () => {
    const a = env.sandbox()
    const b = env.sandbox()
    const { context, page, seen } = await freshContext()
    try {
      await login(page, env.previewUrl(3000, a.id))
      await waitForAppFetch(page)
      // Same origin, credentials omitted: the app's fetch is readable, and must be a 401 JSON body.
      // (Default Accept `*/*`: over plain http Chromium sends no Sec-Fetch-* headers, and SPEC §3
      // step 6 then judges by User-Agent + Accept, so a fetch asking for text/html first would
      // count as a navigation. The https variant is in partitioned.test.ts.)
      const same = await page.evaluate(async () => {
        const r = await fetch('/api/data', { credentials: 'omit' })
        return { status: r.status, redirected: r.redirected, url: r.url, type: r.headers.get('content-type') ?? '', code: r.headers.get('x-preview-error') ?? '', body: await r.text() }
      })
      assert.equal(same.status, 401, `status: ${JSON.stringify(same)}`)
      assert.equal(same.redirected, false, 'not redirected')
      assert.match(same.type, /^application\/json/)
      const body = JSON.parse(same.body) as Record<string, unknown>
      assert.equal(body.code, 'UNAUTHORIZED')
      assert.equal(body.source, 'DAYTONA_PROXY')
      assert.equal(body.statusCode, 401)

      // Cross-origin to another private sandbox (no session there), with credentials: 401, no Location.
      const target = env.previewUrl(3000, b.id, '/api/data')
      const seenResponse = page.waitForResponse((r) => r.url() === target, { timeout: 10_000 })
      const kind = await page.evaluate(async (u: string) => {
        try {
          const r = await fetch(u, { mode: 'no-cors', credentials: 'include' })
          return r.type
        } catch (e) {
          return `error: ${String(e)}`
        }
      }, target)
      assert.equal(kind, 'opaque', 'a no-cors fetch completes')
      const r = await seenResponse
      // (Chromium reports no headers for an opaque answer; its status and the absence of any
      // follow-up request show it was the 401, not a login redirect.)
      assert.equal(r.status(), 401, 'the gateway answered 401')
      assert.equal(seen.filter((x) => x.url.startsWith(env.baseUrl('/login'))).length, 1, 'no login request besides the first one')
      assert.equal(env.app.requests(b.id).length, 0, 'nothing reached sandbox b')
    } finally {
      await context.close()
    }
  })

  test('a failing callback answers an HTML error page: no session, no redirect, no login loop', T, async () => {
    const sbx = env.sandbox()
    const denied = env.sandbox({ userAccess: false })

    // 1. Bad state (the issuer sends back a state the gateway did not sign).
    {
      const { context, page, seen } = await freshContext()
      try {
        issuer.tamperNextState = true
        const res = await login(page, env.previewUrl(3000, sbx.id, '/bad-state'))
        const u = new URL(page.url())
        assert.equal(`${u.host}${u.pathname}`, `preview.test:${env.gwPort}/callback`, `stays on the callback (at ${page.url()})`)
        assert.ok([400, 403].includes(res.status()), `400/403, got ${res.status()}`)
        assert.match(res.headers()['content-type'] ?? '', /^text\/html/, 'an HTML page')
        assert.equal(res.headers()['location'], undefined, 'no redirect')
        assert.match(res.headers()['cache-control'] ?? '', /no-store/)
        const code = (await res.allHeaders())['x-preview-error'] ?? ''
        assert.match(code, /^[A-Z_]+$/, 'an error code')
        assert.ok((await text(page, 'body')).includes(code), 'the page carries the error code (SPEC §7)')
        await page.screenshot({ path: artifactPath('login-failed-bad-state.png') })
        const cookies = await context.cookies()
        assert.ok(!cookies.some((c) => c.name.startsWith(SESSION_PREFIX)), 'no session')
        assert.ok(!cookies.some((c) => c.name.startsWith('daytona-proxy-') && c.value !== ''), 'the login cookie is cleared')
        assert.equal(urlsOf(seen, (x) => x.pathname === '/login').length, 1, 'no second login round')
        assert.equal(env.app.requests(sbx.id).length, 0, 'the app was never reached')
      } finally {
        issuer.tamperNextState = false
        await context.close()
      }
    }

    // 2. A callback without the login cookie (e.g. replayed in another browser).
    {
      const { context, page } = await freshContext()
      try {
        const res = await page.goto(env.baseUrl('/callback?code=abc&state=def'))
        assert.ok(res !== null)
        assert.ok([400, 403].includes(res.status()), `400/403, got ${res.status()}`)
        assert.equal(res.request().redirectedFrom(), null)
        assert.match(res.headers()['content-type'] ?? '', /^text\/html/)
        assert.equal(page.url(), env.baseUrl('/callback?code=abc&state=def'))
      } finally {
        await context.close()
      }
    }

    // 3. The issuer refuses (error=access_denied), and 4. the user may not see the sandbox.
    for (const c of [{ label: 'issuer error', id: sbx.id, arm: () => { issuer.nextAuthorizeError = 'access_denied' } }, { label: 'access denied', id: denied.id, arm: () => undefined }]) {
      const { context, page, seen } = await freshContext()
      try {
        c.arm()
        const res = await login(page, env.previewUrl(3000, c.id, '/x'))
        const u = new URL(page.url())
        assert.equal(`${u.host}${u.pathname}`, `preview.test:${env.gwPort}/callback`, `${c.label}: stays on the callback (at ${page.url()})`)
        assert.ok([400, 403].includes(res.status()), `${c.label}: 400/403, got ${res.status()}`)
        assert.match(res.headers()['content-type'] ?? '', /^text\/html/, `${c.label}: an HTML page`)
        assert.ok(!(await context.cookies()).some((k) => k.name.startsWith(SESSION_PREFIX)), `${c.label}: no session`)
        assert.equal(urlsOf(seen, (x) => x.pathname === '/login').length, 1, `${c.label}: no login loop`)
      } finally {
        issuer.nextAuthorizeError = undefined
        await context.close()
      }
    }
    assert.equal(env.app.requests(denied.id).length, 0, 'the refused sandbox served nothing')
  })
})
