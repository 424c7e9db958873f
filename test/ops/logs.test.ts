/**
 * Operations — logs (SPEC §7, §8; src/listener/accounting.ts, src/log.ts): with LOG_LEVEL=info
 * every stdout line is one JSON object; each HTTP request gets one access line (`msg:"access"`)
 * with method, kind, status, durationMs, sandbox and hostHash; no line holds a preview token, a
 * user bearer, a query key, a session or app cookie, the runner API key, an upstream URL (the
 * fake runner's address) or a whole preview host; the start-up line carries the effective
 * configuration with secrets masked.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { echoOf, assertGatewayError } from '../helpers/assertions.js'
import { freePort, newId, newToken, waitUntil } from '../helpers/http.js'
import type { Reply } from '../helpers/http.js'
import { closeWs, openWs, roundTrip } from '../helpers/ws.js'
import { DOMAIN, RUNNER_KEY, startOpsStack } from './support.js'
import type { OpsStack } from './support.js'

const KEY = 'DAYTONA_SANDBOX_AUTH_KEY'
const API_KEY = `ops-proxy-api-key-${randomBytes(8).toString('hex')}`
const SESSION_SECRET = `ops-session-secret-${randomBytes(16).toString('hex')}`
const REDIS_PASSWORD = `ops-redis-pw-${randomBytes(8).toString('hex')}`
const OIDC_CLIENT_SECRET = `ops-oidc-secret-${randomBytes(8).toString('hex')}`
const T = { timeout: 30_000 }

type Json = Record<string, unknown>

interface Sent {
  readonly what: string
  readonly host: string
  readonly kind: 'preview' | 'toolbox'
  /** undefined: any status (a response cut mid-body). */
  readonly status: number | undefined
  /** The sandbox id the access line must name (undefined: a refused request). */
  readonly sandbox: string | undefined
  readonly method: string
}

function setCookieValue(r: Reply, prefix: string): string | undefined {
  const raw = r.headers['set-cookie'] ?? []
  for (const c of raw) {
    const pair = c.split(';')[0] ?? ''
    const eq = pair.indexOf('=')
    if (eq > 0 && pair.slice(0, eq).startsWith(prefix)) return pair.slice(eq + 1)
  }
  return undefined
}

/** Every string and number value in a parsed JSON value. */
function leaves(v: unknown, out: Array<string | number> = []): Array<string | number> {
  if (typeof v === 'string' || typeof v === 'number') out.push(v)
  else if (Array.isArray(v)) for (const x of v) leaves(x, out)
  else if (v !== null && typeof v === 'object') for (const x of Object.values(v)) leaves(x, out)
  return out
}

describe('ops: logs are JSON, one access line per request, and hold no secret', () => {
  let s: OpsStack
  const sent: Sent[] = []
  /** Strings that must appear in no output line. */
  const forbidden = new Set<string>()
  let hostsUsed: string[] = []
  let downPort = 0

  before(async () => {
    s = await startOpsStack({ LOG_LEVEL: 'info', SESSION_SECRET, REDIS_PASSWORD, OIDC_CLIENT_SECRET, API_CLIENT_TIMEOUT_SEC: '2', UPSTREAM_TIMEOUT_SEC: '1' }, { apiKey: API_KEY })
    forbidden.add(API_KEY)
    forbidden.add(SESSION_SECRET)
    forbidden.add(REDIS_PASSWORD)
    forbidden.add(OIDC_CLIENT_SECRET)
    forbidden.add(RUNNER_KEY)
    forbidden.add(s.runner.url)
    forbidden.add(`127.0.0.1:${s.runner.port}`)
    forbidden.add(`localhost:${s.runner.port}`)

    const sbx = s.sandbox()
    forbidden.add(sbx.token)
    forbidden.add(sbx.bearer)
    const idHost = s.host(3000, sbx.id)
    const appSecret = `appcookie${randomBytes(8).toString('hex')}`
    const querySecret = `qv${randomBytes(8).toString('hex')}`
    forbidden.add(appSecret)
    forbidden.add(querySecret)
    const ok = (what: string, host: string, kind: 'preview' | 'toolbox' = 'preview', method = 'GET'): void => { sent.push({ what, host, kind, status: 200, sandbox: sbx.id, method }) }

    // Preview token header.
    echoOf(await s.send(idHost, `/page?x=${querySecret}`, { headers: { 'x-daytona-preview-token': sbx.token } }))
    ok('preview token', idHost)
    // Bearer.
    echoOf(await s.send(idHost, '/api/items', { headers: { authorization: `Bearer ${sbx.bearer}` } }))
    ok('bearer', idHost)
    // Query key (the gateway's own auth parameter), with an app cookie.
    echoOf(await s.send(idHost, `/q?${KEY}=${sbx.token}&y=${querySecret}`, { headers: { cookie: `appsession=${appSecret}` } }))
    ok('query key + app cookie', idHost)
    // A POST with a body.
    echoOf(await s.send(idHost, '/submit', { method: 'POST', headers: { 'x-daytona-preview-token': sbx.token, 'content-type': 'application/json' }, body: JSON.stringify({ secret: appSecret }) }))
    ok('POST', idHost, 'preview', 'POST')

    // Signed-token host → a session cookie → the cookie alone.
    const signed = newToken('signed')
    forbidden.add(signed)
    s.cp.addSignedToken(signed, { sandboxId: sbx.id, port: 3000 })
    const tokenHost = s.host(3000, signed)
    const first = await s.send(tokenHost, '/from-link')
    echoOf(first)
    ok('signed-token host', tokenHost)
    const session = setCookieValue(first, 'daytona-sandbox-auth-')
    assert.ok(session !== undefined && session.length > 20, 'the signed-token host minted a session cookie')
    forbidden.add(session)
    echoOf(await s.send(tokenHost, '/with-cookie', { headers: { cookie: `daytona-sandbox-auth-${signed}=${session}; appsession=${appSecret}` } }))
    ok('session cookie', tokenHost)

    // Toolbox route on the base domain with a bearer.
    echoOf(await s.send(DOMAIN, `/toolbox/${sbx.id}/files?path=${querySecret}`, { headers: { authorization: `Bearer ${sbx.bearer}` } }))
    ok('toolbox', DOMAIN, 'toolbox')

    // Refusals with wrong credentials (their values must not be logged either).
    const wrongToken = newToken('wrong')
    const wrongBearer = newToken('wrongbearer')
    forbidden.add(wrongToken)
    forbidden.add(wrongBearer)
    assertGatewayError(await s.send(idHost, '/', { headers: { 'x-daytona-preview-token': wrongToken, accept: 'application/json' } }), 401, 'UNAUTHORIZED')
    sent.push({ what: 'wrong token', host: idHost, kind: 'preview', status: 401, sandbox: undefined, method: 'GET' })
    assertGatewayError(await s.send(idHost, '/', { headers: { authorization: `Bearer ${wrongBearer}`, accept: 'application/json' } }), 401, 'UNAUTHORIZED')
    sent.push({ what: 'wrong bearer', host: idHost, kind: 'preview', status: 401, sandbox: undefined, method: 'GET' })
    const badSigned = newToken('badsigned')
    forbidden.add(badSigned)
    assertGatewayError(await s.send(s.host(3000, badSigned), '/', { headers: { accept: 'application/json' } }), 401, 'UNAUTHORIZED')
    sent.push({ what: 'unknown signed token host', host: s.host(3000, badSigned), kind: 'preview', status: 401, sandbox: undefined, method: 'GET' })

    // Hosts that are no preview host of this gateway, and an unknown base-domain path: neither the
    // host nor the path may be logged.
    const strayHost = `3000-${newToken('stray')}.elsewhere.test`
    forbidden.add(strayHost)
    assertGatewayError(await s.send(strayHost, `/x?${querySecret}`, { headers: { accept: 'application/json' } }), 404, 'INVALID_HOST')
    const strayPath = `/no-such-${randomBytes(6).toString('hex')}`
    forbidden.add(strayPath)
    assertGatewayError(await s.send(DOMAIN, `${strayPath}?k=${querySecret}`, { headers: { accept: 'application/json' } }), 404, 'NOT_FOUND')

    // A control-plane failure while validating a token (an error path that might log the call URL).
    const cpSbx = s.sandbox({ prefix: 'cpfail' })
    forbidden.add(cpSbx.token)
    s.cp.script(`/preview/${cpSbx.id}/validate/${cpSbx.token}`, [{ status: 500 }], { repeatLast: true })
    const failed = await s.send(s.host(3000, cpSbx.id), '/', { headers: { 'x-daytona-preview-token': cpSbx.token, accept: 'application/json' } })
    assertGatewayError(failed, [502, 503], 'CONTROL_PLANE_UNAVAILABLE')
    sent.push({ what: 'control-plane failure', host: s.host(3000, cpSbx.id), kind: 'preview', status: failed.status, sandbox: undefined, method: 'GET' })

    // A runner that is down (an error path that might log the upstream URL or its key).
    downPort = await freePort()
    const downKey = `down-runner-key-${randomBytes(6).toString('hex')}`
    forbidden.add(downKey)
    forbidden.add(`127.0.0.1:${downPort}`)
    const down = s.sandbox({ prefix: 'down', runner: { id: newId('runner-down'), proxyUrl: `http://127.0.0.1:${downPort}`, apiUrl: `http://127.0.0.1:${downPort}`, apiKey: downKey } })
    forbidden.add(down.token)
    assertGatewayError(await s.send(s.host(3000, down.id), '/', { headers: { 'x-daytona-preview-token': down.token } }), 502, 'UPSTREAM_UNREACHABLE')
    sent.push({ what: 'runner down', host: s.host(3000, down.id), kind: 'preview', status: 502, sandbox: down.id, method: 'GET' })

    // A runner answering an app error (upstreamStatus in the access line).
    const appErr = await s.send(idHost, '/status?code=500', { headers: { 'x-daytona-preview-token': sbx.token } })
    assert.equal(appErr.status, 500)
    sent.push({ what: 'app error', host: idHost, kind: 'preview', status: 500, sandbox: sbx.id, method: 'GET' })

    // Upstream failures after the connect: no headers in time (504), and a body cut mid-way.
    assertGatewayError(await s.send(idHost, `/hang?x=${querySecret}`, { headers: { 'x-daytona-preview-token': sbx.token, accept: 'application/json' } }), 504, 'UPSTREAM_TIMEOUT')
    sent.push({ what: 'upstream timeout', host: idHost, kind: 'preview', status: 504, sandbox: sbx.id, method: 'GET' })
    const cut = await s.send(idHost, '/abort-mid', { headers: { 'x-daytona-preview-token': sbx.token } }).then((r) => r.status, () => 'cut')
    assert.ok(cut === 'cut' || cut === 200, `abort-mid: the client sees the body cut (${cut})`)
    sent.push({ what: 'upstream cut mid-body', host: idHost, kind: 'preview', status: undefined, sandbox: sbx.id, method: 'GET' })

    // A WebSocket to the runner that is down (a failed tunnel).
    const wsDown = await openWs({ port: s.gw.port, host: s.host(3000, down.id), path: `/ws?${KEY}=${down.token}` })
    assert.equal(wsDown.kind, 'rejected', 'a WebSocket to a runner that is down is refused')
    if (wsDown.kind === 'rejected') assert.equal(wsDown.status, 502)

    // A WebSocket authenticated with the query key.
    const o = await openWs({ port: s.gw.port, host: idHost, path: `/ws?${KEY}=${sbx.token}&z=${querySecret}` })
    assert.equal(o.kind, 'open')
    if (o.kind === 'open') {
      assert.equal((await roundTrip(o.ws, 'hi')).data.toString(), 'hi')
      await closeWs(o.ws)
    }

    hostsUsed = [...new Set(sent.map((x) => x.host).filter((h) => h !== DOMAIN))]
    // Wait for the access lines of every request sent (written when each response closes).
    await waitUntil(() => accessLines().filter((l) => l.kind === 'preview' || l.kind === 'toolbox').length >= sent.length, {
      timeoutMs: 5000, message: `${sent.length} access lines for preview/toolbox requests`,
    }).catch(() => undefined)
  }, { timeout: 30_000 })

  after(async () => { await s?.close() }, { timeout: 10_000 })

  function parsedLines(): Json[] {
    return s.stdoutLines().map((l) => JSON.parse(l) as Json)
  }

  function accessLines(): Json[] {
    const out: Json[] = []
    for (const l of s.stdoutLines()) {
      try {
        const j = JSON.parse(l) as Json
        // Upgrades get their own access line (`upgrade: "websocket"`); this list is the HTTP ones.
        if (j.msg === 'access' && j.upgrade === undefined) out.push(j)
      } catch { /* judged by the JSON test */ }
    }
    return out
  }

  test('every stdout line is a JSON object', T, () => {
    const lines = s.stdoutLines()
    assert.ok(lines.length > sent.length, `stdout has lines (${lines.length})`)
    const bad = lines.filter((l) => {
      try {
        const j: unknown = JSON.parse(l)
        return j === null || typeof j !== 'object' || Array.isArray(j)
      } catch {
        return true
      }
    })
    assert.deepEqual(bad, [], 'non-JSON stdout lines')
    for (const j of parsedLines()) {
      assert.equal(typeof j.level, 'number', 'each line has a level')
      assert.equal(typeof j.msg, 'string', `each line has a msg: ${JSON.stringify(j).slice(0, 200)}`)
      assert.ok(typeof j.time === 'string' || typeof j.time === 'number', 'each line has a time')
    }
  })

  test('one access line per request, with method, kind, status, durationMs, sandbox and hostHash', T, () => {
    const access = accessLines().filter((l) => l.kind === 'preview' || l.kind === 'toolbox')
    assert.equal(access.length, sent.length, `one access line per preview/toolbox request sent (${sent.length}); got:\n${access.map((a) => JSON.stringify(a)).join('\n')}`)
    for (const a of accessLines()) {
      assert.equal(typeof a.method, 'string', `method in ${JSON.stringify(a)}`)
      assert.equal(typeof a.kind, 'string', `kind in ${JSON.stringify(a)}`)
      assert.equal(typeof a.status, 'number', `status in ${JSON.stringify(a)}`)
      assert.equal(typeof a.durationMs, 'number', `durationMs in ${JSON.stringify(a)}`)
      assert.ok((a.durationMs as number) >= 0)
    }
    // Match each request to a distinct access line (same order of completion as sending: sequential).
    const remaining = [...access]
    const hashOf = new Map<string, string>()
    for (const req of sent) {
      const i = remaining.findIndex((a) => a.kind === req.kind && (req.status === undefined || a.status === req.status) && a.method === req.method && (req.sandbox === undefined || a.sandbox === req.sandbox))
      assert.ok(i >= 0, `an access line for ${req.what} (${req.method} ${req.kind} ${req.status} sandbox ${req.sandbox ?? '-'}); left: ${remaining.map((a) => JSON.stringify(a)).join('\n')}`)
      const a = remaining.splice(i, 1)[0] as Json
      if (req.sandbox !== undefined) assert.equal(a.sandbox, req.sandbox, `sandbox id in the access line of ${req.what}`)
      assert.equal(typeof a.hostHash, 'string', `hostHash in the access line of ${req.what}: ${JSON.stringify(a)}`)
      const hh = a.hostHash as string
      assert.ok(hh.length >= 8, 'hostHash is a digest, not empty')
      const prev = hashOf.get(req.host)
      if (prev !== undefined && req.kind === 'preview') assert.equal(hh, prev, `hostHash is stable for one host (${req.what})`)
      if (req.kind === 'preview') hashOf.set(req.host, hh)
    }
    const distinct = new Set([...hashOf.values()])
    assert.equal(distinct.size, hashOf.size, 'different preview hosts have different hostHashes')
  })

  test('no line holds a token, bearer, cookie, query value, runner key, upstream URL or a whole preview host', T, () => {
    const out = s.gw.output() // stdout and stderr
    const lines = out.split('\n')
    const hits: string[] = []
    for (const secret of forbidden) {
      const line = lines.find((l) => l.includes(secret))
      if (line !== undefined) hits.push(`${secret} in: ${line.slice(0, 300)}`)
    }
    for (const h of hostsUsed) {
      const line = lines.find((l) => l.toLowerCase().includes(h.toLowerCase()))
      if (line !== undefined) hits.push(`whole host ${h} in: ${line.slice(0, 300)}`)
      // The host label (port-label) on its own is the host minus the domain.
      const label = h.slice(0, h.length - DOMAIN.length - 1)
      const labelLine = lines.find((l) => l.includes(label))
      if (labelLine !== undefined) hits.push(`host label ${label} in: ${labelLine.slice(0, 300)}`)
    }
    // The runner's / down runner's port as a JSON value (e.g. {"port": 41234}) or inside a string.
    for (const j of parsedLines()) {
      for (const v of leaves(j)) {
        for (const p of [s.runner.port, downPort]) {
          if (v === p || (typeof v === 'string' && new RegExp(`(^|[^0-9])${p}([^0-9]|$)`).test(v) && /[:/]/.test(v))) hits.push(`upstream port ${p} in ${JSON.stringify(j).slice(0, 300)}`)
        }
      }
    }
    assert.deepEqual(hits, [], 'secrets or whole hosts in log output')
  })

  test('the start-up line holds the effective configuration with secrets masked', T, () => {
    const start = parsedLines().find((j) => j.config !== undefined && typeof j.config === 'object')
    assert.ok(start !== undefined, `a start-up line with the effective config:\n${s.stdout().slice(0, 1500)}`)
    const cfg = start.config as Record<string, unknown>
    assert.equal(cfg.PROXY_API_KEY, '***', `PROXY_API_KEY masked: ${JSON.stringify(cfg)}`)
    assert.equal(cfg.SESSION_SECRET, '***', 'SESSION_SECRET masked')
    assert.equal(cfg.REDIS_PASSWORD, '***', 'REDIS_PASSWORD masked')
    assert.equal(cfg.OIDC_CLIENT_SECRET, '***', 'OIDC_CLIENT_SECRET masked')
    assert.equal(cfg.DAYTONA_API_URL, s.cp.url, 'the effective DAYTONA_API_URL is shown')
    assert.equal(cfg.PROXY_DOMAIN, DOMAIN, 'PROXY_DOMAIN shown')
    assert.equal(cfg.LOG_LEVEL, 'info')
    assert.equal(String(cfg.PROXY_PORT), String(s.gw.port))
    assert.ok(!JSON.stringify(start).includes(API_KEY), 'the API key value is nowhere on the start-up line')
    for (const secret of [API_KEY, SESSION_SECRET, REDIS_PASSWORD, OIDC_CLIENT_SECRET]) assert.ok(!s.gw.output().includes(secret), 'no secret value anywhere in the output')
  })
})
