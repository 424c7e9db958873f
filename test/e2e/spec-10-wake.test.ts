/**
 * SPEC §10 wake on visit, from outside: a stopped sandbox gets ONE `POST /sandbox/{id}/start`
 * however many visitors, every visitor is answered at once (navigations: a self-refreshing
 * "starting" page; everything else 503 SANDBOX_STARTING + Retry-After; WebSocket upgrades 503,
 * never a redirect), states on the way up start nothing new, error/build_failed/destroyed get
 * typed answers, and once the sandbox is started the app is served. Without WAKE_ON_REQUEST a
 * stopped sandbox is reported as stopped and nothing is started.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { startStack } from '../helpers/stack.js'
import type { Stack } from '../helpers/stack.js'
import { assertGatewayError, echoOf } from '../helpers/assertions.js'
import { freePort, newId, waitUntil } from '../helpers/http.js'
import type { Reply } from '../helpers/http.js'
import { openWs } from '../helpers/ws.js'
import { FakeOidcIssuer } from '../fakes/oidc-issuer.js'

const T = { timeout: 30_000 }
const NAV = { 'sec-fetch-mode': 'navigate', 'sec-fetch-dest': 'document', 'user-agent': 'Mozilla/5.0 (X11; Linux x86_64) Chrome/130.0', accept: 'text/html,application/xhtml+xml;q=0.9,*/*;q=0.8' }
const FETCH = { 'sec-fetch-mode': 'cors', 'sec-fetch-dest': 'empty', accept: 'application/json' }
/** Long enough that a burst never sees the start finish on its own; tests end it with finishStart. */
const FOREVER_MS = 600_000

function assertStartingPage(r: Reply): void {
  assert.equal(r.status, 503, `the starting page is a 503 answer: ${r.text.slice(0, 200)}`)
  assert.match(String(r.headers['content-type']), /^text\/html/)
  assert.equal(r.headers['x-preview-error'], 'SANDBOX_STARTING')
  assert.equal(r.headers.location, undefined, 'in place, no redirect')
  assert.match(String(r.headers['cache-control']), /no-store/)
  assert.match(String(r.headers['content-security-policy']), /default-src 'none'/, 'strict CSP like the other gateway pages')
  assert.match(r.text, /<meta http-equiv="refresh" content="\d+">/, 'it refreshes itself')
  assert.match(r.text, /Sandbox is starting/)
  assert.doesNotMatch(r.text, /<script/i, 'no script')
}

function assertStartingJson(r: Reply): void {
  const body = assertGatewayError(r, 503, 'SANDBOX_STARTING')
  assert.equal(body.daytonaCode, 'SANDBOX_NOT_STARTED', 'the SDK code beside ours')
  assert.match(String(r.headers['retry-after']), /^\d+$/, 'Retry-After')
}

describe('SPEC §10 wake on visit (WAKE_ON_REQUEST=true)', { timeout: 120_000 }, () => {
  let s: Stack
  before(async () => { s = await startStack({ WAKE_ON_REQUEST: 'true' }) })
  after(async () => { await s?.close() })

  test('200 concurrent visitors to a stopped sandbox: one start call, each answered at once, then the app', T, async () => {
    const sbx = s.sandbox({ public: true, prefix: 'burst' })
    s.cp.stopSandbox(sbx.id)
    sbx.state.startDelayMs = FOREVER_MS
    const host = s.host(3000, sbx.id)
    const started = Date.now()
    const replies = await Promise.all(Array.from({ length: 200 }, (_, i) => s.send(host, `/page-${i}`, { headers: i % 2 === 0 ? NAV : FETCH })))
    const took = Date.now() - started
    replies.forEach((r, i) => (i % 2 === 0 ? assertStartingPage(r) : assertStartingJson(r)))
    // The visitors that triggered the start are answered once the platform took it: counted already.
    assert.equal(s.cp.startCalls(sbx.id), 1, 'exactly one start call for 200 visitors')
    assert.ok(took < 15_000, `answered at once, not held until the sandbox is up (${took} ms for 200)`)
    assert.equal(sbx.state.state, 'starting')
    assert.equal(s.runner.requests(sbx.id).length, 0, 'nothing reached the runner')

    // Still starting: more visits start nothing new.
    assertStartingJson(await s.send(host, '/again', { headers: FETCH }))
    s.cp.finishStart(sbx.id)
    const served = await waitUntil(async () => {
      const r = await s.send(host, '/after', { headers: NAV })
      return r.status === 200 ? r : undefined
    }, { timeoutMs: 10_000, intervalMs: 100, message: 'the app is served once the sandbox is started' })
    assert.equal(echoOf(served).rest, '/after')
    assert.equal(s.cp.startCalls(sbx.id), 1, 'still one start call')
  })

  test('a WebSocket upgrade to a stopped sandbox is refused with 503, never redirected', T, async () => {
    const sbx = s.sandbox({ public: true, prefix: 'ws' })
    s.cp.stopSandbox(sbx.id)
    sbx.state.startDelayMs = FOREVER_MS
    const o = await openWs({ port: s.gw.port, host: s.host(3000, sbx.id), path: '/ws', origin: `http://${s.host(3000, sbx.id)}` })
    assert.equal(o.kind, 'rejected')
    if (o.kind !== 'rejected') return
    assert.equal(o.status, 503)
    assert.equal(o.headers.location, undefined, 'no Location on an upgrade refusal')
    assert.equal(o.headers['x-preview-error'], 'SANDBOX_STARTING')
    assert.match(String(o.headers['retry-after']), /^\d+$/)
    assert.equal(JSON.parse(o.body).daytonaCode, 'SANDBOX_NOT_STARTED')
    await waitUntil(() => s.cp.startCalls(sbx.id) === 1, { timeoutMs: 5000, message: 'the upgrade woke the sandbox' })
  })

  test('an archived sandbox is woken the same way; a credential is still required first', T, async () => {
    const sbx = s.sandbox({ prefix: 'arch' })
    s.cp.stopSandbox(sbx.id, 'archived')
    sbx.state.startDelayMs = FOREVER_MS
    assertGatewayError(await s.send(s.host(3000, sbx.id), '/', { headers: FETCH }), 401, 'UNAUTHORIZED')
    assert.equal(s.cp.startCalls(sbx.id), 0, 'nobody unauthenticated wakes a sandbox')
    assertStartingJson(await s.send(s.host(3000, sbx.id), '/', { headers: { ...FETCH, 'x-daytona-preview-token': sbx.token } }))
    await waitUntil(() => s.cp.startCalls(sbx.id) === 1, { timeoutMs: 5000, message: 'one start call' })
  })

  test('states on the way up answer "starting" and send no start call', T, async () => {
    for (const state of ['starting', 'restoring', 'pulling_snapshot', 'creating']) {
      const sbx = s.sandbox({ public: true, prefix: state.replace('_', '') })
      s.cp.stopSandbox(sbx.id)
      sbx.state.state = state
      assertStartingJson(await s.send(s.host(3000, sbx.id), '/', { headers: FETCH }))
      assertStartingPage(await s.send(s.host(3000, sbx.id), '/', { headers: NAV }))
      assert.equal(s.cp.startCalls(sbx.id), 0, `${state}: no start call`)
    }
  })

  test('error, build_failed and destroyed get typed answers; nothing is started', T, async () => {
    const cases = [
      { state: 'error', status: 502, code: 'SANDBOX_ERROR', daytona: undefined, words: /error state/ },
      { state: 'build_failed', status: 502, code: 'SANDBOX_BUILD_FAILED', daytona: undefined, words: /failed to build/ },
      { state: 'destroyed', status: 404, code: 'SANDBOX_NOT_FOUND', daytona: 'SANDBOX_NOT_FOUND', words: /does not exist|deleted/ },
    ] as const
    for (const c of cases) {
      const sbx = s.sandbox({ public: true, prefix: c.state.replace('_', '') })
      s.cp.stopSandbox(sbx.id)
      sbx.state.state = c.state
      const json = assertGatewayError(await s.send(s.host(3000, sbx.id), '/', { headers: FETCH }), c.status, c.code)
      assert.equal(json.daytonaCode, c.daytona, `${c.state}: daytonaCode`)
      const page = await s.send(s.host(3000, sbx.id), '/', { headers: NAV })
      assert.equal(page.status, c.status)
      assert.match(String(page.headers['content-type']), /^text\/html/, `${c.state}: a page for a navigation`)
      assert.equal(page.headers['x-preview-error'], c.code)
      assert.match(page.text, c.words, `${c.state}: the page says so`)
      assert.doesNotMatch(page.text, /http-equiv="refresh"/, `${c.state}: no refresh loop on a final state`)
      assert.equal(s.cp.startCalls(sbx.id), 0, `${c.state}: no start call`)
    }
  })

  test('a sandbox the platform does not know (404) is answered 404 SANDBOX_NOT_FOUND', T, async () => {
    const sbx = s.sandbox({ public: true, prefix: 'gone' })
    s.cp.stopSandbox(sbx.id)
    s.cp.script(`/sandbox/${sbx.id}`, [{ status: 404, body: { statusCode: 404, message: 'Sandbox not found' } }], { repeatLast: true })
    const body = assertGatewayError(await s.send(s.host(3000, sbx.id), '/', { headers: FETCH }), 404, 'SANDBOX_NOT_FOUND')
    assert.equal(body.daytonaCode, 'SANDBOX_NOT_FOUND')
  })

  test('a runner that refuses the connection, on a stopped sandbox: woken once, then served', T, async () => {
    const sbx = s.sandbox({ public: true, prefix: 'refused' })
    const dead = await freePort()
    s.cp.setRunner(sbx.id, { id: newId('dead'), proxyUrl: `http://127.0.0.1:${dead}`, apiUrl: `http://127.0.0.1:${dead}`, apiKey: 'dead-key' })
    sbx.state.state = 'stopped'
    sbx.state.runnerWhenStarted = s.runnerInfo
    sbx.state.startDelayMs = FOREVER_MS
    assertStartingJson(await s.send(s.host(3000, sbx.id), '/', { headers: FETCH }))
    assertStartingPage(await s.send(s.host(3000, sbx.id), '/', { headers: NAV }))
    await waitUntil(() => s.cp.startCalls(sbx.id) >= 1, { timeoutMs: 5000, message: 'a start call' })
    s.cp.finishStart(sbx.id)
    await waitUntil(async () => (await s.send(s.host(3000, sbx.id), '/x', { headers: FETCH })).status === 200, { timeoutMs: 10_000, intervalMs: 100, message: 'served after the start' })
    assert.equal(s.cp.startCalls(sbx.id), 1)
  })

  test('a WebSocket whose runner refuses the connection, on a stopped sandbox: 503 SANDBOX_STARTING, one start', T, async () => {
    const sbx = s.sandbox({ public: true, prefix: 'wsrefused' })
    const dead = await freePort()
    s.cp.setRunner(sbx.id, { id: newId('dead'), proxyUrl: `http://127.0.0.1:${dead}`, apiUrl: `http://127.0.0.1:${dead}`, apiKey: 'dead-key' })
    sbx.state.state = 'stopped'
    sbx.state.runnerWhenStarted = s.runnerInfo
    sbx.state.startDelayMs = FOREVER_MS
    const o = await openWs({ port: s.gw.port, host: s.host(3000, sbx.id), path: '/ws' })
    assert.ok(o.kind === 'rejected', 'refused')
    if (o.kind !== 'rejected') return
    assert.equal(o.status, 503)
    assert.equal(o.headers.location, undefined)
    assert.equal(o.headers['x-preview-error'], 'SANDBOX_STARTING')
    assert.match(String(o.headers['retry-after']), /^\d+$/)
    await waitUntil(() => s.cp.startCalls(sbx.id) === 1, { timeoutMs: 5000, message: 'one start call' })
    s.cp.finishStart(sbx.id)
    const open = await waitUntil(async () => {
      const w = await openWs({ port: s.gw.port, host: s.host(3000, sbx.id), path: '/ws' })
      if (w.kind === 'open') return w
      return undefined
    }, { timeoutMs: 10_000, intervalMs: 100, message: 'the WebSocket opens once the sandbox is started' })
    open.ws.terminate()
  })

  test('a started sandbox whose runner refuses keeps the plain 502', T, async () => {
    const sbx = s.sandbox({ public: true, prefix: 'down' })
    const dead = await freePort()
    s.cp.setRunner(sbx.id, { id: newId('dead'), proxyUrl: `http://127.0.0.1:${dead}`, apiUrl: `http://127.0.0.1:${dead}`, apiKey: 'dead-key' })
    assertGatewayError(await s.send(s.host(3000, sbx.id), '/', { headers: FETCH }), 502, 'UPSTREAM_UNREACHABLE')
    assert.equal(s.cp.startCalls(sbx.id), 0)
  })
})

describe('SPEC §10 without WAKE_ON_REQUEST (the default)', { timeout: 60_000 }, () => {
  let s: Stack
  before(async () => { s = await startStack() })
  after(async () => { await s?.close() })

  test('a stopped sandbox is reported stopped (503 SANDBOX_STOPPED) and nothing is started', T, async () => {
    const sbx = s.sandbox({ public: true, prefix: 'stopped' })
    s.cp.stopSandbox(sbx.id)
    const body = assertGatewayError(await s.send(s.host(3000, sbx.id), '/', { headers: FETCH }), 503, 'SANDBOX_STOPPED')
    assert.equal(body.daytonaCode, 'SANDBOX_NOT_STARTED')
    const page = await s.send(s.host(3000, sbx.id), '/', { headers: NAV })
    assert.equal(page.status, 503)
    assert.match(String(page.headers['content-type']), /^text\/html/)
    assert.match(page.text, /stopped/)
    assert.doesNotMatch(page.text, /http-equiv="refresh"/, 'nothing will start: no refresh loop')
    const o = await openWs({ port: s.gw.port, host: s.host(3000, sbx.id), path: '/ws' })
    assert.ok(o.kind === 'rejected' && o.status === 503 && o.headers.location === undefined, 'upgrade: 503, no redirect')
    assert.equal(s.cp.startCalls(sbx.id), 0, 'no start call without WAKE_ON_REQUEST')
  })
})

describe('SPEC §3 step 6 with OIDC: a private sandbox that no runner holds is still one to log in to', { timeout: 60_000 }, () => {
  let s: Stack
  let issuer: FakeOidcIssuer
  before(async () => {
    issuer = await FakeOidcIssuer.start()
    s = await startStack({ WAKE_ON_REQUEST: 'true', OIDC_DOMAIN: issuer.issuer, OIDC_CLIENT_ID: issuer.clientId, OIDC_CLIENT_SECRET: issuer.clientSecret ?? '' })
  })
  after(async () => {
    await s?.close()
    await issuer?.close()
  })

  test('stopped or archived: a navigation without credentials goes to the login (not INVALID_LINK), and nothing is started', T, async () => {
    for (const state of ['stopped', 'archived'] as const) {
      const sbx = s.sandbox({ prefix: state })
      s.cp.stopSandbox(sbx.id, state)
      const r = await s.send(s.host(3000, sbx.id), '/page', { headers: NAV })
      assert.equal(r.status, 302, `${state}: ${r.status} ${String(r.headers['x-preview-error'])}`)
      const to = new URL(String(r.headers.location), `http://${s.host(3000, sbx.id)}/page`)
      assert.equal(to.hostname, 'preview.test')
      assert.equal(to.pathname, '/login')
      assert.equal(s.cp.startCalls(sbx.id), 0, 'nobody authenticated: nothing started')
    }
  })

  test('a label the platform does not know (a dead share link) still gets the INVALID_LINK page, no login loop', T, async () => {
    const r = await s.send(s.host(3000, newId('gone')), '/', { headers: NAV })
    assert.equal(r.status, 401)
    assert.equal(r.headers['x-preview-error'], 'INVALID_LINK')
    assert.equal(r.headers.location, undefined)
  })
})
