/**
 * SPEC §9 logins across replicas: an OIDC login (fake issuer) that starts on replica A and ends
 * on replica B succeeds; the session B mints is accepted by A; the one-time ticket, redeemed on
 * B, is refused when replayed on A (and on B). Both replicas stand behind one public port
 * (PROXY_PUBLIC_PORT), as behind a load balancer; the test plays the browser and the balancer.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { FakeOidcIssuer } from '../fakes/oidc-issuer.js'
import { request } from '../helpers/http.js'
import type { Reply } from '../helpers/http.js'
import { ensureRedisServer } from './support/redis-server.js'
import { DOMAIN, freePort, startFleet } from './support/fleet.js'
import type { Fleet } from './support/fleet.js'

const skip = await ensureRedisServer()
const TICKET_PARAM = 'DAYTONA_PREVIEW_LOGIN_TICKET'

function location(r: Reply): URL {
  const loc = r.headers.location
  assert.ok(typeof loc === 'string', `expected a redirect, got ${r.status}: ${r.text.slice(0, 200)}`)
  return new URL(loc)
}

/** `name=value` of a Set-Cookie header (first one whose name starts with `prefix`). */
function cookieOf(r: Reply, prefix: string): string | undefined {
  const set = r.headers['set-cookie'] ?? []
  const c = set.find((v) => v.startsWith(prefix))
  return c?.split(';')[0]
}

describe('fleet: logins across replicas (SPEC §4, §9)', { skip: skip ?? false, timeout: 120_000 }, () => {
  let f: Fleet
  let issuer: FakeOidcIssuer
  let publicPort: number
  before(async () => {
    issuer = await FakeOidcIssuer.start()
    publicPort = await freePort()
    f = await startFleet({
      env: {
        PROXY_PUBLIC_PORT: String(publicPort),
        OIDC_DOMAIN: issuer.issuer,
        OIDC_CLIENT_ID: issuer.clientId,
        OIDC_CLIENT_SECRET: issuer.clientSecret ?? '',
      },
    })
  }, { timeout: 60_000 })
  after(async () => { await f?.close(); await issuer?.close() }, { timeout: 30_000 })

  /** The "load balancer": a URL of the public port sent to replica `i`. */
  function via(i: number, url: URL, headers: Record<string, string> = {}): Promise<Reply> {
    return f.send(i, url.host, url.pathname + url.search, { headers: { 'sec-fetch-mode': 'navigate', accept: 'text/html', ...headers } })
  }

  test('login starts on A, ends on B; B\'s session works on A; the ticket replayed on A is refused', { timeout: 60_000 }, async () => {
    const s = f.sandbox({ bearers: [issuer.accessToken] })
    const start = new URL(`http://${f.host(3000, s.id)}:${publicPort}/app?x=1`)
    // A: no credentials → redirect to the base domain's login.
    const loginUrl = location(await via(0, start))
    assert.equal(loginUrl.host, `${DOMAIN}:${publicPort}`)
    // A: /login sets the login cookie and sends the browser to the issuer.
    const toIssuer = await via(0, loginUrl)
    const authorize = location(toIssuer)
    const loginCookie = cookieOf(toIssuer, 'daytona-')
    assert.ok(loginCookie !== undefined, 'login cookie set by A')
    // The issuer approves and sends the browser back to /callback.
    const back = await request({ port: issuer.port, host: authorize.host, path: authorize.pathname + authorize.search })
    const callback = location(back)
    assert.equal(callback.pathname, '/callback')
    // B: the callback (state and cookie minted by A) hands over a one-time ticket.
    const withTicket = location(await via(1, callback, { cookie: loginCookie }))
    const ticket = withTicket.searchParams.get(TICKET_PARAM)
    assert.ok(ticket !== null && ticket !== '', 'ticket in the return URL')
    // B: the preview host redeems it and mints its session cookie.
    const redeemed = await via(1, withTicket)
    assert.equal(redeemed.status, 302)
    const session = cookieOf(redeemed, 'daytona-sandbox-auth-')
    assert.ok(session !== undefined, 'session cookie minted by B')
    // A accepts the session B minted.
    const onA = await f.send(0, start.host, '/echo', { headers: { cookie: session } })
    assert.equal(onA.status, 200, `A refused B's session: ${onA.text.slice(0, 200)}`)
    // The ticket is spent for the whole fleet.
    for (const i of [0, 1]) {
      const replay = await via(i, withTicket)
      assert.ok(cookieOf(replay, 'daytona-sandbox-auth-') === undefined, `replica ${i} minted a session from a replayed ticket`)
      assert.ok(replay.status >= 400, `replica ${i} answered ${replay.status} to a replayed ticket`)
    }
  })

  test('a ticket is one-time across the fleet even when both replicas redeem it at once', { timeout: 60_000 }, async () => {
    const s = f.sandbox({ bearers: [issuer.accessToken] })
    const start = new URL(`http://${f.host(3000, s.id)}:${publicPort}/`)
    const loginUrl = location(await via(1, start))
    const toIssuer = await via(1, loginUrl)
    const back = await request({ port: issuer.port, host: location(toIssuer).host, path: location(toIssuer).pathname + location(toIssuer).search })
    const withTicket = location(await via(0, location(back), { cookie: cookieOf(toIssuer, 'daytona-') ?? '' }))
    const replies = await Promise.all([0, 1, 0, 1].map((i) => via(i, withTicket)))
    const minted = replies.filter((r) => cookieOf(r, 'daytona-sandbox-auth-') !== undefined)
    assert.equal(minted.length, 1, `sessions minted from one ticket: ${minted.length}`)
  })
})
