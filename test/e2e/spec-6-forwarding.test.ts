/**
 * SPEC §6 — forwarding: target path and byte-exact path/query, X-Forwarded-*, the runner key
 * header, hop-by-hop and steering headers, dot segments, streaming both ways with backpressure
 * (SSE, 100 MiB down, 64 MiB up, bounded RSS), aborts both ways, 502/504, upstream Set-Cookie,
 * CORS, WebSockets (subprotocol, permessage-deflate, 401, reserved-port Origin check), the
 * toolbox route with Location prefixing, and last-activity throttling.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import net from 'node:net'
import type { IncomingMessage } from 'node:http'
import { once } from 'node:events'
import { createHash, randomBytes } from 'node:crypto'
import { startStack } from '../helpers/stack.js'
import type { SandboxHandle, Stack } from '../helpers/stack.js'
import { assertGatewayError, echoHeader, echoOf, hasAttribute, parseSetCookies } from '../helpers/assertions.js'
import { freePort, headerValues, newId, newToken, sha256, waitUntil, withTimeout } from '../helpers/http.js'
import { closeWs, openWs, roundTrip } from '../helpers/ws.js'
import type { WsOutcome } from '../helpers/ws.js'
import type { RunnerRequest } from '../fakes/runner.js'
import { RawConnection } from '../helpers/raw-http.js'

const T = { timeout: 20_000 }
const KEY = 'DAYTONA_SANDBOX_AUTH_KEY'
const MiB = 1024 * 1024
const ALLOWED = 'https://allowed.example'

/** Starts a request and resolves with the response head (body unread). */
function openResponse(port: number, host: string, path: string, headers: http.OutgoingHttpHeaders = {}): { req: http.ClientRequest; response: Promise<IncomingMessage> } {
  const req = http.request({ host: '127.0.0.1', port, path, headers: { host, ...headers }, agent: false })
  const response = new Promise<IncomingMessage>((resolve, reject) => {
    req.once('response', resolve)
    req.once('error', reject)
  })
  req.end()
  return { req, response }
}

/** The handshake status: the refusal's status, or 101 (and the socket closed) when it opened. */
async function statusOf(o: WsOutcome): Promise<number> {
  if (o.kind === 'rejected') return o.status
  await closeWs(o.ws)
  return 101
}

/** Resolves once `read()` has not changed for `stableMs` (a stalled stream), bounded by `timeoutMs`. */
async function waitForPlateau(read: () => number, stableMs: number, timeoutMs: number): Promise<number> {
  let last = -1
  let since = Date.now()
  return waitUntil(() => {
    const v = read()
    if (v !== last) { last = v; since = Date.now(); return false }
    return Date.now() - since >= stableMs ? v : false
  }, { timeoutMs, intervalMs: 50, message: 'stream stalled' })
}

function rssSampler(read: () => number): { stop(): number } {
  let max = read()
  const timer = setInterval(() => { try { max = Math.max(max, read()) } catch { /* process gone */ } }, 20)
  return { stop() { clearInterval(timer); try { max = Math.max(max, read()) } catch { /* gone */ } return max } }
}

describe('SPEC §6 forwarding', () => {
  let s: Stack
  before(async () => { s = await startStack({ CORS_ALLOWED_ORIGINS: ALLOWED }) })
  after(async () => { await s?.close() })

  const tok = (h: SandboxHandle): Record<string, string> => ({ 'x-daytona-preview-token': h.token })

  describe('target and headers', () => {
    test('target: {proxyUrl}/sandboxes/{id}/toolbox/proxy/{port}{path}?{query}; Host is the runner\'s; method and body kept', T, async () => {
      const sbx = s.sandbox({ public: true })
      const body = randomBytes(MiB)
      const echo = echoOf(await s.send(s.host(3000, sbx.id), '/echo/a?x=1', { method: 'POST', body, headers: { 'content-type': 'application/octet-stream' } }))
      assert.equal(echo.url, `/sandboxes/${sbx.id}/toolbox/proxy/3000/echo/a?x=1`)
      assert.equal(echo.method, 'POST')
      assert.equal(echo.headers.host, `127.0.0.1:${s.runner.port}`)
      assert.equal(echo.bodyLength, body.length)
      assert.equal(echo.bodySha256, sha256(body))
    })

    test('a chunked request body is forwarded intact', T, async () => {
      const sbx = s.sandbox({ public: true })
      const body = randomBytes(300 * 1024)
      const echo = echoOf(await s.send(s.host(3000, sbx.id), '/echo', { method: 'PUT', body, headers: { 'transfer-encoding': 'chunked' } }))
      assert.equal(echo.bodyLength, body.length)
      assert.equal(echo.bodySha256, sha256(body))
    })

    const exact = [
      '/%40topbar/page.js',
      '/%5B%5Bslug%5D%5D/page.js',
      '/_next/static/chunks/app/(local)/%40topbar/%5B%5B...slug%5D%5D/page-fbf946cc1263adfe.js',
      '/files/%2Ftmp%2Ffoo.txt',
      '/a%2Fb',
      '/UPPER%2fcase%2F',
      '/x/%252e%252e/y',
      '/x/%252E/y',
      '/a+b%20c',
      '/search?q=a+b%20c&r=%2F&s=%252e',
      '/?redirect=http%3A%2F%2Fexample.com%2F%3Fa%3D1%26b%3D2',
      '/%E2%9C%93?%E2%9C%93=%E2%9C%93',
      '/a;b=c/d',
      '/path/with%3Fquestion?real=query',
      '/a//b',
      '//evil.example/x',
      '/%7Euser/~tilde',
      '/q?',
      '/q?a=1&a=2&b',
      '/q?p=../x&r=./y',
      '/...',
      '/..a/a../.well-known/x',
      '/%2e%2e%2e/x',
      "/a*b'c!d$e&f=g,h",
      '/',
    ]
    for (const path of exact) {
      test(`path and query byte for byte: ${path}`, T, async () => {
        const sbx = s.sandbox({ public: true })
        const echo = echoOf(await s.send(s.host(3000, sbx.id), path))
        assert.equal(echo.url, `/sandboxes/${sbx.id}/toolbox/proxy/3000${path}`)
      })
    }

    const dotted = [
      '/..', '/../x', '/a/../b', '/a/..', '/.', '/./x', '/a/./b', '/a/.',
      '/%2e%2e/x', '/%2E%2E/x', '/.%2E/x', '/%2e./x', '/%2e/x', '/a/%2e', '/a/.%2e',
      '/a%2F..%2Fb', '/a%2f..%2fb', '/a%5C..%5Cb', '/a/..%2Fb', '/a/..%5cb', '/%2e%2e%2f', '/..?q=1',
      '/a\\..\\b',
    ]
    for (const path of dotted) {
      test(`dot segment refused with 400 BAD_REQUEST, nothing forwarded: ${path}`, T, async () => {
        const sbx = s.sandbox({ public: true })
        const r = await s.send(s.host(3000, sbx.id), path)
        assert.equal(r.status, 400, `status for ${path}`)
        if (r.headers['content-type']?.startsWith('application/json') === true) assertGatewayError(r, 400, 'BAD_REQUEST')
        assert.equal(s.runner.requests(sbx.id).length, 0)
      })
    }

    test('X-Forwarded-Host (original host), -Proto and -For replace client copies (no TRUSTED_PROXIES, SPEC §10)', T, async () => {
      const sbx = s.sandbox({ public: true })
      const host = s.host(3000, sbx.id)
      const echo = echoOf(await s.send(host, '/', { headers: { 'x-forwarded-for': '203.0.113.7', 'x-forwarded-host': 'evil.example', 'x-forwarded-proto': 'https' } }))
      assert.deepEqual(echoHeader(echo, 'x-forwarded-host'), [host])
      assert.deepEqual(echoHeader(echo, 'x-forwarded-proto'), ['http'])
      const xff = echoHeader(echo, 'x-forwarded-for')
      assert.equal(xff.length, 1)
      assert.match(xff[0] ?? '', /^(::ffff:)?127\.0\.0\.1$/, 'a client cannot forge the hops before it')
      const plain = echoOf(await s.send(host, '/'))
      assert.match(echoHeader(plain, 'x-forwarded-for')[0] ?? '', /^(::ffff:)?127\.0\.0\.1$/)
    })

    test('X-Daytona-Authorization: Bearer {runner.apiKey} is set once; the client copy is removed', T, async () => {
      const sbx = s.sandbox({ public: true })
      const echo = echoOf(await s.send(s.host(3000, sbx.id), '/', { headers: { 'x-daytona-authorization': 'Bearer stolen-or-forged' } }))
      assert.deepEqual(echoHeader(echo, 'x-daytona-authorization'), [`Bearer ${s.runnerInfo.apiKey}`])
    })

    test('hop-by-hop request headers (and those named in Connection) are not forwarded; end-to-end ones are', T, async () => {
      const sbx = s.sandbox({ public: true })
      const echo = echoOf(await s.send(s.host(3000, sbx.id), '/', {
        headers: { connection: 'keep-alive, X-Hop-A', 'x-hop-a': 'secret', 'keep-alive': 'timeout=5', 'proxy-connection': 'keep-alive', 'x-custom': 'kept' },
      }))
      assert.deepEqual(echoHeader(echo, 'x-hop-a'), [])
      assert.deepEqual(echoHeader(echo, 'keep-alive'), [])
      assert.deepEqual(echoHeader(echo, 'proxy-connection'), [])
      assert.ok(!echoHeader(echo, 'connection').join(',').toLowerCase().includes('x-hop-a'))
      assert.deepEqual(echoHeader(echo, 'x-custom'), ['kept'])
    })

    test('hop-by-hop response headers named in Connection do not reach the client', T, async () => {
      const sbx = s.sandbox({ public: true })
      const r = await s.send(s.host(3000, sbx.id), '/hop-headers')
      assert.equal(r.status, 200)
      assert.equal(r.headers['x-resp-hop'], undefined)
      assert.equal(r.headers['x-normal'], 'yes')
    })

    test('steering headers are removed before forwarding', T, async () => {
      const sbx = s.sandbox({ public: true })
      const echo = echoOf(await s.send(s.host(3000, sbx.id), '/', {
        headers: { 'x-daytona-skip-last-activity-update': 'true', 'x-daytona-disable-cors': 'true', 'x-daytona-skip-preview-warning': 'true' },
      }))
      for (const h of ['x-daytona-skip-last-activity-update', 'x-daytona-disable-cors', 'x-daytona-skip-preview-warning']) {
        assert.deepEqual(echoHeader(echo, h), [], h)
      }
    })
  })

  describe('connection timeouts', () => {
    test('the keep-alive idle timeout is at least 65 s (above a load balancer\'s 60 s)', T, async (t) => {
      const conn = await RawConnection.open(s.gw.port)
      try {
        await conn.write('GET /health HTTP/1.1\r\nHost: preview.test\r\nConnection: keep-alive\r\n\r\n')
        const r = await conn.response(5000)
        assert.equal(r.status, 200)
        const ka = r.headers['keep-alive']
        if (ka === undefined) { t.skip('no Keep-Alive header to read the idle timeout from'); return }
        const m = /timeout=(\d+)/.exec(ka)
        assert.ok(m !== null, `Keep-Alive: ${ka}`)
        assert.ok(Number(m[1]) >= 65, `Keep-Alive: ${ka}`)
      } finally {
        conn.destroy()
      }
    })
  })

  describe('streaming', () => {
    test('SSE: the first event arrives while the upstream is still streaming; all events arrive', T, async () => {
      const sbx = s.sandbox({ public: true })
      const { req, response } = openResponse(s.gw.port, s.host(3000, sbx.id), '/sse?count=40&interval=50', { accept: 'text/event-stream' })
      const res = await response
      assert.equal(res.statusCode, 200)
      const rec = await s.runner.waitForRequest((r) => r.sandboxId === sbx.id && r.route === 'sse', 5000)
      let text = ''
      let upstreamOpenAtFirstEvent: boolean | undefined
      res.setEncoding('utf8')
      res.on('data', (c: string) => {
        text += c
        if (upstreamOpenAtFirstEvent === undefined && text.includes('data: tick 1\n')) upstreamOpenAtFirstEvent = !rec.completed
      })
      await withTimeout(once(res, 'end'), 10_000, 'SSE stream end')
      req.destroy()
      assert.equal(upstreamOpenAtFirstEvent, true, 'first event delivered before the upstream ended (not buffered)')
      assert.equal((text.match(/data: tick \d+/g) ?? []).length, 40)
    })

    test('100 MiB download: a paused client stalls the upstream (bounded bytes in flight, bounded RSS)', { timeout: 90_000 }, async (t) => {
      const sbx = s.sandbox({ public: true })
      const total = 100 * MiB
      const sampler = rssSampler(() => s.gw.rssBytes())
      const baseline = s.gw.rssBytes()
      const { req, response } = openResponse(s.gw.port, s.host(3000, sbx.id), `/big?bytes=${total}`)
      const res = await response
      assert.equal(res.statusCode, 200)
      const rec = await s.runner.waitForRequest((r) => r.sandboxId === sbx.id && r.route === 'big', 5000)
      let received = 0
      const hash = createHash('sha256')
      await new Promise<void>((resolve) => {
        const onData = (c: Buffer): void => {
          received += c.length
          hash.update(c)
          if (received >= MiB) { res.pause(); res.off('data', onData); resolve() }
        }
        res.on('data', onData)
      })
      const sentWhileStalled = await waitForPlateau(() => rec.sentBytes, 700, 20_000)
      const inFlight = sentWhileStalled - received
      const rssWhileStalled = s.gw.rssBytes() - baseline
      assert.ok(sentWhileStalled < total, 'the upstream stopped while the client read nothing')
      assert.ok(inFlight < 48 * MiB, `bytes in flight bounded (${(inFlight / MiB).toFixed(1)} MiB)`)
      res.on('data', (c: Buffer) => { received += c.length; hash.update(c) })
      res.resume()
      await withTimeout(once(res, 'end'), 60_000, '100 MiB download end')
      req.destroy()
      const maxRss = sampler.stop()
      t.diagnostic(`in flight while stalled: ${(inFlight / MiB).toFixed(1)} MiB; RSS growth while stalled ${(rssWhileStalled / MiB).toFixed(1)} MiB, max ${((maxRss - baseline) / MiB).toFixed(1)} MiB`)
      assert.equal(received, total)
      assert.ok(maxRss - baseline < 72 * MiB, `gateway RSS grew by ${((maxRss - baseline) / MiB).toFixed(1)} MiB (bound 72 MiB, below the 100 MiB body)`)
    })

    test('64 MiB upload: a stalled upstream stalls the client (bounded bytes in flight, bounded RSS); body intact', { timeout: 90_000 }, async (t) => {
      const sbx = s.sandbox({ public: true })
      const total = 64 * MiB
      const sampler = rssSampler(() => s.gw.rssBytes())
      const baseline = s.gw.rssBytes()
      const req = http.request({
        host: '127.0.0.1', port: s.gw.port, method: 'POST', path: `/upload?stallAfter=${MiB}`, agent: false,
        headers: { host: s.host(3000, sbx.id), 'content-type': 'application/octet-stream', 'content-length': String(total) },
      })
      const response = new Promise<IncomingMessage>((resolve, reject) => { req.once('response', resolve); req.once('error', reject) })
      const chunk = Buffer.alloc(64 * 1024, 'upload-pattern-0123456789')
      const hash = createHash('sha256')
      let written = 0
      const writer = (async (): Promise<void> => {
        while (written < total) {
          const n = Math.min(chunk.length, total - written)
          const piece = n === chunk.length ? chunk : chunk.subarray(0, n)
          hash.update(piece)
          written += n
          if (!req.write(piece)) await once(req, 'drain')
        }
        req.end()
      })()
      const rec = await s.runner.waitForRequest((r) => r.sandboxId === sbx.id && r.route === 'upload', 10_000)
      const writtenWhileStalled = await waitForPlateau(() => written, 700, 20_000)
      const upInFlight = writtenWhileStalled - rec.receivedBytes
      assert.ok(writtenWhileStalled < total, 'the client was held back while the upstream read nothing')
      assert.ok(upInFlight < 48 * MiB, `bytes in flight bounded (${(upInFlight / MiB).toFixed(1)} MiB)`)
      s.runner.releaseUploads()
      await withTimeout(writer, 60_000, 'upload written')
      const res = await withTimeout(response, 30_000, 'upload response')
      const chunks: Buffer[] = []
      for await (const c of res) chunks.push(c as Buffer)
      const maxRss = sampler.stop()
      t.diagnostic(`in flight while stalled: ${(upInFlight / MiB).toFixed(1)} MiB; RSS growth max ${((maxRss - baseline) / MiB).toFixed(1)} MiB`)
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { bytes: number; sha256: string }
      assert.equal(res.statusCode, 200)
      assert.equal(body.bytes, total)
      assert.equal(body.sha256, hash.digest('hex'))
      assert.ok(maxRss - baseline < 48 * MiB, `gateway RSS grew by ${((maxRss - baseline) / MiB).toFixed(1)} MiB (bound 48 MiB)`)
    })

    test('client abort before the response closes the upstream request', T, async () => {
      const sbx = s.sandbox({ public: true })
      const { req, response } = openResponse(s.gw.port, s.host(3000, sbx.id), '/hang')
      response.catch(() => { /* aborted on purpose */ })
      const rec = await s.runner.waitForRequest((r) => r.sandboxId === sbx.id && r.route === 'hang', 5000)
      req.destroy()
      await withTimeout(rec.closed, 5000, 'upstream closed after the client aborted')
      assert.equal(rec.closedEarly, true)
    })

    test('client abort mid-stream closes the upstream response', T, async () => {
      const sbx = s.sandbox({ public: true })
      const { req, response } = openResponse(s.gw.port, s.host(3000, sbx.id), '/drip')
      const res = await response
      await once(res, 'data')
      const rec = await s.runner.waitForRequest((r) => r.sandboxId === sbx.id && r.route === 'drip', 5000)
      req.destroy()
      await withTimeout(rec.closed, 5000, 'upstream closed after the client aborted mid-stream')
      assert.equal(rec.closedEarly, true)
    })

    test('upstream abort mid-stream aborts the client response (no clean end)', T, async () => {
      const sbx = s.sandbox({ public: true })
      const { req, response } = openResponse(s.gw.port, s.host(3000, sbx.id), '/abort-mid')
      const res = await response
      assert.equal(res.statusCode, 200)
      const outcome = await withTimeout(new Promise<'end' | 'aborted'>((resolve) => {
        res.on('data', () => {})
        res.on('end', () => resolve(res.complete ? 'end' : 'aborted'))
        res.on('error', () => resolve('aborted'))
        res.on('close', () => resolve(res.complete ? 'end' : 'aborted'))
      }), 10_000, 'client sees the upstream abort')
      req.destroy()
      assert.equal(outcome, 'aborted', 'a truncated body must not look complete')
    })
  })

  describe('upstream failures', () => {
    test('runner down → 502 UPSTREAM_UNREACHABLE with the exact JSON body', T, async () => {
      const sbx = s.sandbox({ public: true })
      const dead = await freePort()
      s.cp.setRunner(sbx.id, { id: newId('dead'), proxyUrl: `http://127.0.0.1:${dead}`, apiUrl: `http://127.0.0.1:${dead}`, apiKey: 'dead-runner-key' })
      const r = await s.send(s.host(3000, sbx.id), '/')
      const body = assertGatewayError(r, 502, 'UPSTREAM_UNREACHABLE')
      assert.deepEqual({ ...body, message: '…' }, { statusCode: 502, error: 'Bad Gateway', code: 'UPSTREAM_UNREACHABLE', daytonaCode: 'RUNNER_UNREACHABLE', message: '…', source: 'DAYTONA_PROXY' })
      assert.ok(!r.text.includes(String(dead)) && !r.text.includes('dead-runner-key'), 'no runner address or key in the body')
    })

    test('a request whose bytes reached the runner is not replayed when it is not idempotent', T, async (t) => {
      let requestsSeen = 0
      const resetter = net.createServer((sock) => {
        sock.on('error', () => {})
        sock.once('data', () => { requestsSeen += 1; sock.resetAndDestroy() })
      })
      await new Promise<void>((resolve) => resetter.listen(0, '127.0.0.1', () => resolve()))
      t.after(() => new Promise<void>((resolve) => resetter.close(() => resolve())))
      const addr = resetter.address()
      assert.ok(addr !== null && typeof addr === 'object')
      const sbx = s.sandbox({ public: true, runner: { id: newId('reset'), proxyUrl: `http://127.0.0.1:${addr.port}`, apiUrl: `http://127.0.0.1:${addr.port}`, apiKey: 'reset-key' } })
      const r = await s.send(s.host(3000, sbx.id), '/order', { method: 'POST', body: '{"buy":1}', headers: { 'content-type': 'application/json' } })
      assertGatewayError(r, 502, 'UPSTREAM_UNREACHABLE')
      assert.equal(requestsSeen, 1, 'the POST reached the runner exactly once')
    })
  })

  describe('Expect: 100-continue', () => {
    const expectPost = (host: string, headers = ''): string =>
      `POST /echo HTTP/1.1\r\nHost: ${host}\r\n${headers}Content-Length: 10\r\nExpect: 100-continue\r\n\r\n`

    test('an admitted upload is invited (100 Continue) and forwarded whole', T, async () => {
      const sbx = s.sandbox()
      const c = await RawConnection.open(s.gw.port)
      try {
        await c.write(expectPost(s.host(3000, sbx.id), `X-Daytona-Preview-Token: ${sbx.token}\r\n`))
        const cont = await c.response(5000)
        assert.equal(cont.status, 100)
        await c.write('0123456789')
        const r = await c.response(5000)
        assert.equal(r.status, 200)
        assert.equal((JSON.parse(r.body.toString('utf8')) as { bodyLength: number }).bodyLength, 10)
      } finally {
        c.destroy()
      }
      const rec = s.runner.requests(sbx.id)[0]
      assert.equal(rec?.headers['expect'], undefined, 'Expect is hop-by-hop here: the gateway answered it')
    })

    test('a refused upload is never invited: the final answer comes first, and the connection closes', T, async () => {
      const sbx = s.sandbox()
      const c = await RawConnection.open(s.gw.port)
      try {
        await c.write(expectPost(s.host(3000, sbx.id)))
        const r = await c.response(5000)
        assert.equal(r.status, 401, 'no 100 Continue before the refusal')
        assert.ok(await c.waitClosed(3000), 'closed: the body it held back must not be read as a request')
      } finally {
        c.destroy()
      }
      assert.deepEqual(s.runner.requests(sbx.id), [])
    })
  })

  describe('upstream Set-Cookie', () => {
    test('cookies named like gateway cookies are dropped; Domain is removed; the rest passes byte for byte', T, async () => {
      const sbx = s.sandbox({ public: true })
      const set = [
        `daytona-sandbox-auth-${sbx.id}=evil; Path=/`,
        'daytona-sandbox-auth-other=evil',
        'daytona-preview-page-accepted=true; Path=/',
        'app=1; Path=/; Domain=preview.test; HttpOnly',
        'plain=2; Path=/x; Max-Age=60; SameSite=Strict',
        'dom=3; domain=.preview.test; Secure',
      ]
      const qs = set.map((c) => `c=${encodeURIComponent(c)}`).join('&')
      const r = await s.send(s.host(3000, sbx.id), `/set-cookie?${qs}`)
      assert.equal(r.status, 200)
      const got = parseSetCookies(r.headers)
      assert.deepEqual(got.map((c) => c.name), ['app', 'plain', 'dom'])
      const [app, plain, dom] = got
      assert.ok(app !== undefined && plain !== undefined && dom !== undefined)
      assert.ok(!hasAttribute(app, 'Domain') && !hasAttribute(dom, 'Domain'), 'Domain removed (host-only)')
      assert.deepEqual(app.attributes, ['Path=/', 'HttpOnly'])
      assert.deepEqual(dom.attributes, ['Secure'])
      assert.equal(plain.raw, 'plain=2; Path=/x; Max-Age=60; SameSite=Strict')
    })
  })

  describe('CORS', () => {
    test('a preflight is answered by the gateway without credentials, with Vary: Origin', T, async () => {
      const sbx = s.sandbox()
      const r = await s.send(s.host(3000, sbx.id), '/api', {
        method: 'OPTIONS',
        headers: { origin: 'https://app.example', 'access-control-request-method': 'PUT', 'access-control-request-headers': 'x-custom, content-type' },
      })
      assert.ok(r.status === 200 || r.status === 204, `status ${r.status}`)
      assert.equal(r.headers['access-control-allow-origin'], 'https://app.example')
      assert.equal(r.headers['access-control-allow-credentials'], 'true')
      assert.match(r.headers.vary ?? '', /origin/i)
      assert.match(r.headers['access-control-allow-methods'] ?? '', /PUT/i)
      assert.match(r.headers['access-control-allow-headers'] ?? '', /x-custom/i)
      assert.equal(s.runner.requests(sbx.id).length, 0, 'not forwarded')
      assert.equal(s.cp.calls(`/preview/${sbx.id}/validate`).length + s.cp.calls(`/preview/${sbx.id}/access`).length, 0, 'no credentials needed')
    })

    test('Origin: null is never granted (preflight or request)', T, async () => {
      const sbx = s.sandbox({ public: true })
      const pre = await s.send(s.host(3000, sbx.id), '/api', { method: 'OPTIONS', headers: { origin: 'null', 'access-control-request-method': 'GET' } })
      const get = await s.send(s.host(3000, sbx.id), '/echo', { headers: { origin: 'null' } })
      for (const r of [pre, get]) {
        const acao = r.headers['access-control-allow-origin']
        assert.ok(acao !== 'null' && acao !== '*', `Access-Control-Allow-Origin: ${acao}`)
      }
    })

    test('a public response grants credentialed CORS to the origin; the app\'s Access-Control-* are replaced, not duplicated', T, async () => {
      const sbx = s.sandbox({ public: true })
      const r = await s.send(s.host(3000, sbx.id), '/cors', { headers: { origin: 'https://app.example' } })
      assert.equal(r.status, 200)
      assert.deepEqual(headerValues(r.rawHeaders, 'access-control-allow-origin'), ['https://app.example'])
      assert.deepEqual(headerValues(r.rawHeaders, 'access-control-allow-credentials'), ['true'])
      assert.match(r.headers.vary ?? '', /origin/i)
      for (let i = 0; i < r.rawHeaders.length; i += 2) {
        const name = (r.rawHeaders[i] ?? '').toLowerCase()
        if (name.startsWith('access-control-')) assert.equal(headerValues(r.rawHeaders, name).length, 1, `${name} appears once`)
      }
    })

    test('header-token authenticated: any origin is granted', T, async () => {
      const sbx = s.sandbox()
      const r = await s.send(s.host(3000, sbx.id), '/echo', { headers: { origin: 'https://anywhere.example', ...tok(sbx) } })
      echoOf(r)
      assert.equal(r.headers['access-control-allow-origin'], 'https://anywhere.example')
      assert.equal(r.headers['access-control-allow-credentials'], 'true')
    })

    test('cookie authenticated: only preview hosts of the same sandbox and CORS_ALLOWED_ORIGINS are granted', T, async () => {
      const sbx = s.sandbox()
      const other = s.sandbox()
      // A session as SPEC §3 step 5 mints it: on a signed-token host.
      const signed = newToken('sgn')
      s.cp.addSignedToken(signed, { sandboxId: sbx.id, port: 3000 })
      const host = s.host(3000, signed)
      const minted = await s.send(host, '/')
      const c = parseSetCookies(minted.headers).find((x) => x.name === `daytona-sandbox-auth-${signed}`)
      assert.ok(c !== undefined, 'session minted')
      const cookie = `${c.name}=${c.value}`
      for (const origin of [`http://${host}`, `http://3001-${sbx.id}.preview.test`, ALLOWED]) {
        const r = await s.send(host, '/echo', { headers: { origin, cookie } })
        assert.equal(r.headers['access-control-allow-origin'], origin, `granted to ${origin}`)
        assert.equal(r.headers['access-control-allow-credentials'], 'true')
      }
      for (const origin of ['https://evil.example', `http://3000-${other.id}.preview.test`]) {
        const r = await s.send(host, '/echo', { headers: { origin, cookie } })
        const acao = r.headers['access-control-allow-origin']
        assert.ok(acao !== origin && acao !== '*', `not granted to ${origin} (got ${acao})`)
      }
    })

    test('X-Daytona-Disable-CORS: the app\'s own CORS passes untouched and preflights reach the app', T, async () => {
      const sbx = s.sandbox({ public: true })
      const r = await s.send(s.host(3000, sbx.id), '/cors', { headers: { origin: 'https://app.example', 'x-daytona-disable-cors': 'true' } })
      assert.deepEqual(headerValues(r.rawHeaders, 'access-control-allow-origin'), ['*'])
      const pre = await s.send(s.host(3000, sbx.id), '/cors', { method: 'OPTIONS', headers: { origin: 'https://app.example', 'access-control-request-method': 'GET', 'x-daytona-disable-cors': 'true' } })
      assert.equal(pre.headers['x-app-handled'], 'OPTIONS')
      const seen = s.runner.requests(sbx.id)
      assert.ok(seen.every((x) => x.headers['x-daytona-disable-cors'] === undefined), 'steering header not forwarded')
    })
  })

  describe('WebSockets', () => {
    test('echo through the gateway with a subprotocol and permessage-deflate negotiated end to end', T, async () => {
      const sbx = s.sandbox()
      const o = await openWs({ port: s.gw.port, host: s.host(3000, sbx.id), path: '/ws?x=1', protocols: ['chat.v2', 'chat.v1'], headers: tok(sbx), perMessageDeflate: true })
      assert.equal(o.kind, 'open', JSON.stringify(o.kind === 'rejected' ? { status: o.status, body: o.body } : {}))
      if (o.kind !== 'open') return
      try {
        assert.equal(o.protocol, 'chat.v1', 'the app chose the second offered subprotocol')
        assert.match(o.extensions, /permessage-deflate/)
        const text = await roundTrip(o.ws, 'hello through the gateway')
        assert.equal(text.data.toString('utf8'), 'hello through the gateway')
        assert.equal(text.isBinary, false)
        const big = Buffer.alloc(256 * 1024, 'compressible ')
        const bin = await roundTrip(o.ws, big)
        assert.equal(bin.isBinary, true)
        assert.ok(bin.data.equals(big))
      } finally {
        await closeWs(o.ws)
      }
      const rec = s.runner.requests(sbx.id).find((r) => r.kind === 'ws')
      assert.ok(rec !== undefined)
      assert.equal(rec.url, `/sandboxes/${sbx.id}/toolbox/proxy/3000/ws?x=1`)
      assert.equal(rec.headers['x-daytona-authorization'], `Bearer ${s.runnerInfo.apiKey}`)
      assert.equal(rec.headers['x-daytona-preview-token'], undefined)
      assert.match(String(rec.headers['sec-websocket-extensions']), /permessage-deflate/)
    })

    test('a runner that answers an upgrade with anything but 101 gets no tunnel: its answer is relayed, filtered, and the connection closed', T, async () => {
      const sbx = s.sandbox()
      const smuggled = `GET /sandboxes/other/toolbox/proxy/8080/admin HTTP/1.1\r\nHost: smuggled\r\nX-Daytona-Preview-Token: ${sbx.token}\r\n\r\n`
      for (const code of [404, 200]) {
        const c = await RawConnection.open(s.gw.port)
        try {
          // The second request rides in the same write as the handshake (the upgrade's `head`).
          await c.write(
            `GET /ws-status?code=${code} HTTP/1.1\r\nHost: ${s.host(3000, sbx.id)}\r\nX-Daytona-Preview-Token: ${sbx.token}\r\n` +
            'Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n' + smuggled,
          )
          const r = await c.response(5000)
          assert.equal(r.status, code)
          assert.equal(r.body.toString('utf8'), `no websocket here (${code})`)
          const cookies = r.rawHeaderLines.filter((l) => /^set-cookie:/i.test(l)).map((l) => l.replace(/^set-cookie:\s*/i, ''))
          assert.deepEqual(cookies, ['app=1'], 'the gateway cookie dropped, Domain removed, as for any answer')
          assert.ok(await c.waitClosed(5000), 'the gateway closes the connection after the answer')
          await c.write(smuggled).catch(() => { /* closed: that is the point */ })
        } finally {
          c.destroy()
        }
      }
      const recs = s.runner.requests(sbx.id).filter((r) => r.kind === 'ws')
      assert.equal(recs.length, 2)
      for (const rec of recs) assert.equal(rec.receivedBytes, 0, 'no byte after the handshake reached the runner')
      assert.deepEqual(s.runner.requests('other'), [], 'the smuggled request never reached the runner')
    })

    test('a client that half-closes (FIN) during the handshake or a relayed answer is gone: the runner connection is closed at once', T, async () => {
      const sbx = s.sandbox()
      for (const path of ['/ws-hang', '/ws-status?code=404&stall=1']) {
        const c = await RawConnection.open(s.gw.port)
        try {
          await c.write(
            `GET ${path} HTTP/1.1\r\nHost: ${s.host(3000, sbx.id)}\r\nX-Daytona-Preview-Token: ${sbx.token}\r\n` +
            'Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
          )
          const rec = await s.runner.waitForRequest((r) => r.sandboxId === sbx.id && r.kind === 'ws' && r.url.endsWith(path), 5000)
          if (path.includes('stall')) await waitUntil(() => c.received.includes('no websocket here'), { timeoutMs: 5000, intervalMs: 10, message: 'answer relayed' })
          c.socket.end()
          await withTimeout(rec.closed, 3000, `${path}: the runner connection closes when the client leaves`)
        } finally {
          c.destroy()
        }
      }
    })

    test('the runner\'s 101 is filtered like any answer: gateway cookies dropped, Domain removed', T, async () => {
      const sbx = s.sandbox()
      const c = await RawConnection.open(s.gw.port)
      try {
        await c.write(
          `GET /ws-cookie HTTP/1.1\r\nHost: ${s.host(3000, sbx.id)}\r\nX-Daytona-Preview-Token: ${sbx.token}\r\n` +
          'Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
        )
        await waitUntil(() => c.received.includes('\r\n\r\n'), { timeoutMs: 5000, intervalMs: 10, message: '101 head' })
        const head = c.received.toString('latin1').split('\r\n\r\n')[0] ?? ''
        assert.match(head, /^HTTP\/1\.1 101 /)
        assert.match(head, /\r\nupgrade: websocket/i)
        assert.match(head, /\r\nconnection: upgrade/i)
        assert.match(head, /\r\nsec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK\+xOo=/i)
        assert.deepEqual(head.split('\r\n').filter((l) => /^set-cookie:/i.test(l)).map((l) => l.replace(/^set-cookie:\s*/i, '')), ['app=1; Path=/'])
      } finally {
        c.destroy()
      }
    })

    test('browser WebSocket authenticated by the query key; the key is cut from the upstream URL', T, async () => {
      const sbx = s.sandbox()
      const o = await openWs({ port: s.gw.port, host: s.host(3000, sbx.id), path: `/ws?${KEY}=${sbx.token}&y=%2F2` })
      assert.equal(o.kind, 'open')
      if (o.kind === 'open') await closeWs(o.ws)
      const rec = s.runner.requests(sbx.id).find((r) => r.kind === 'ws')
      assert.equal(rec?.url, `/sandboxes/${sbx.id}/toolbox/proxy/3000/ws?y=%2F2`)
    })

    test('an upgrade without credentials gets 401, never a redirect (even from a browser)', T, async () => {
      const sbx = s.sandbox()
      const host = s.host(3000, sbx.id)
      const o = await openWs({ port: s.gw.port, host, path: '/ws', origin: `http://${host}`, headers: { 'User-Agent': 'Mozilla/5.0 (X11; Linux x86_64) Chrome/130.0', Accept: 'text/html', 'Sec-Fetch-Mode': 'websocket' } })
      assert.equal(o.kind, 'rejected')
      if (o.kind === 'rejected') {
        assert.equal(o.status, 401)
        assert.equal(o.headers.location, undefined)
      }
      assert.equal(s.runner.requests(sbx.id).length, 0)
    })

    test('reserved port: a foreign Origin is refused with 403 whatever the credential; same host, allowed origin or no Origin pass', T, async () => {
      const sbx = s.sandbox()
      const host22 = s.host(22222, sbx.id)
      const refused = await openWs({ port: s.gw.port, host: host22, path: '/term', headers: tok(sbx), origin: 'https://evil.example' })
      assert.equal(await statusOf(refused), 403)
      const byQuery = await openWs({ port: s.gw.port, host: s.host(33333, sbx.id), path: `/rec?${KEY}=${sbx.token}`, origin: 'https://evil.example' })
      assert.equal(await statusOf(byQuery), 403)
      // A session cookie minted on the reserved port does not lift the Origin check either.
      const signed = newToken('sgn')
      s.cp.addSignedToken(signed, { sandboxId: sbx.id, port: 22222 })
      const minted = await s.send(s.host(22222, signed), '/')
      const c = parseSetCookies(minted.headers).find((x) => x.name === `daytona-sandbox-auth-${signed}`)
      assert.ok(c !== undefined, 'session minted on a 22222 signed-token host')
      const byCookie = await openWs({ port: s.gw.port, host: s.host(22222, signed), path: '/term', headers: { Cookie: `${c.name}=${c.value}` }, origin: 'https://evil.example' })
      assert.equal(await statusOf(byCookie), 403)
      assert.equal(s.runner.requests(sbx.id).filter((r) => r.kind === 'ws').length, 0, 'no refused upgrade was forwarded')

      for (const [port, origin] of [[22222, `http://${host22}`], [22222, ALLOWED], [2280, undefined]] as const) {
        const o = await openWs({ port: s.gw.port, host: s.host(port, sbx.id), path: '/ok', headers: tok(sbx), ...(origin === undefined ? {} : { origin }) })
        assert.equal(o.kind, 'open', `port ${port}, Origin ${origin ?? '(none)'}`)
        if (o.kind === 'open') await closeWs(o.ws)
      }
    })

    test('one client holds 500 concurrent WebSockets', { timeout: 60_000 }, async () => {
      const sbx = s.sandbox({ public: true })
      const outcomes = await Promise.all(Array.from({ length: 500 }, () => openWs({ port: s.gw.port, host: s.host(3000, sbx.id), path: '/many', timeoutMs: 20_000 })))
      const open = outcomes.flatMap((o) => (o.kind === 'open' ? [o.ws] : []))
      try {
        assert.equal(open.length, 500, `opened ${open.length} of 500`)
        const echoes = await Promise.all(open.map((ws, i) => roundTrip(ws, `m${i}`, 20_000)))
        echoes.forEach((e, i) => assert.equal(e.data.toString('utf8'), `m${i}`))
      } finally {
        await Promise.all(open.map((ws) => closeWs(ws)))
      }
    })

    test('reserved port on a public sandbox: an upgrade without credentials → 401', T, async () => {
      const sbx = s.sandbox({ public: true })
      const o = await openWs({ port: s.gw.port, host: s.host(2280, sbx.id), path: '/ws' })
      assert.equal(await statusOf(o), 401)
    })

    test('base-domain toolbox WebSocket counts as port 2280: foreign Origin 403, base-domain Origin passes', T, async () => {
      const sbx = s.sandbox()
      const refused = await openWs({ port: s.gw.port, host: 'preview.test', path: `/toolbox/${sbx.id}/process/ws`, headers: tok(sbx), origin: 'https://evil.example' })
      assert.equal(await statusOf(refused), 403)
      const ok = await openWs({ port: s.gw.port, host: 'preview.test', path: `/toolbox/${sbx.id}/process/ws`, headers: tok(sbx), origin: 'http://preview.test' })
      assert.equal(ok.kind, 'open')
      if (ok.kind === 'open') await closeWs(ok.ws)
      const rec = s.runner.requests(sbx.id).find((r) => r.kind === 'ws')
      assert.equal(rec?.url, `/sandboxes/${sbx.id}/toolbox/process/ws`)
    })
  })

  describe('toolbox route', () => {
    test('/toolbox/{id}/{path} → {proxyUrl}/sandboxes/{id}/toolbox/{path}, byte for byte, credentials stripped', T, async () => {
      const sbx = s.sandbox()
      const echo = echoOf(await s.send('preview.test', `/toolbox/${sbx.id}/files/list?path=%2Fhome%2Fdaytona&x=a+b`, { headers: tok(sbx) }))
      assert.equal(echo.url, `/sandboxes/${sbx.id}/toolbox/files/list?path=%2Fhome%2Fdaytona&x=a+b`)
      assert.deepEqual(echoHeader(echo, 'x-daytona-authorization'), [`Bearer ${s.runnerInfo.apiKey}`])
      assert.deepEqual(echoHeader(echo, 'x-daytona-preview-token'), [])
    })

    test('always authenticated (even a public sandbox) and never redirected', T, async () => {
      const sbx = s.sandbox({ public: true })
      assertGatewayError(await s.send('preview.test', `/toolbox/${sbx.id}/files`), 401, 'UNAUTHORIZED')
      const nav = await s.send('preview.test', `/toolbox/${sbx.id}/files`, { headers: { 'sec-fetch-mode': 'navigate', 'user-agent': 'Mozilla/5.0 Chrome', accept: 'text/html' } })
      assert.equal(nav.status, 401)
      assert.equal(nav.headers.location, undefined)
      assert.equal(s.runner.requests(sbx.id).length, 0)
    })

    test('a toolbox id outside [A-Za-z0-9_-] is refused without any control-plane or runner call', T, async () => {
      const before = s.cp.calls().length
      const runnerBefore = s.runner.requests().length
      for (const p of ['/toolbox/bad!id/x', '/toolbox/a%2F..%2Frunners/x', '/toolbox/%2e%2e/x', '/toolbox/a.b/x']) {
        const r = await s.send('preview.test', p, { headers: { 'x-daytona-preview-token': 'whatever' } })
        assert.ok(r.status === 400 || r.status === 404, `${p}: ${r.status}`)
      }
      assert.deepEqual(s.cp.calls().slice(before).map((c) => c.url), [])
      assert.equal(s.runner.requests().length, runnerBefore)
    })

    test('dot segments are refused on the toolbox route too', T, async () => {
      const sbx = s.sandbox()
      for (const p of [`/toolbox/${sbx.id}/../other/x`, `/toolbox/${sbx.id}/%2e%2e/x`, `/toolbox/${sbx.id}/a%2F..%2F..%2Fx`]) {
        const r = await s.send('preview.test', p, { headers: tok(sbx) })
        assert.ok(r.status === 400 || r.status === 404, `${p}: ${r.status}`)
      }
      assert.equal(s.runner.requests(sbx.id).length, 0)
    })

    test('3xx Location: a path gets the /toolbox/{id} prefix; already-prefixed paths and absolute URLs are left alone', T, async () => {
      const sbx = s.sandbox()
      const loc = async (target: string): Promise<string | undefined> => {
        const r = await s.send('preview.test', `/toolbox/${sbx.id}/redirect?loc=${encodeURIComponent(target)}`, { headers: tok(sbx) })
        assert.equal(r.status, 302)
        return r.headers.location
      }
      assert.equal(await loc('/files/x?y=1'), `/toolbox/${sbx.id}/files/x?y=1`)
      assert.equal(await loc(`/toolbox/${sbx.id}/already`), `/toolbox/${sbx.id}/already`)
      assert.equal(await loc('http://example.com/a'), 'http://example.com/a')
    })

    test('preview (non-toolbox) redirects pass untouched', T, async () => {
      const sbx = s.sandbox({ public: true })
      const r = await s.send(s.host(3000, sbx.id), `/redirect?loc=${encodeURIComponent('/files')}`)
      assert.equal(r.status, 302)
      assert.equal(r.headers.location, '/files')
    })
  })

  describe('last activity', () => {
    /** A sentinel request whose last-activity POST we wait for, so earlier POSTs have had their chance. */
    async function settleActivity(): Promise<void> {
      const sentinel = s.sandbox()
      echoOf(await s.send(s.host(3000, sentinel.id), '/', { headers: tok(sentinel) }))
      await s.cp.waitForCall((c) => c.method === 'POST' && c.path === `/sandbox/${sentinel.id}/last-activity`, 5000)
    }

    test('at most one POST /sandbox/{id}/last-activity per 45 s, with the API key', T, async () => {
      const sbx = s.sandbox()
      for (let i = 0; i < 4; i++) echoOf(await s.send(s.host(3000, sbx.id), `/${i}`, { headers: tok(sbx) }))
      await s.cp.waitForCall((c) => c.method === 'POST' && c.path === `/sandbox/${sbx.id}/last-activity`, 5000)
      await settleActivity()
      const posts = s.cp.calls(`/sandbox/${sbx.id}/last-activity`, 'POST')
      assert.equal(posts.length, 1)
      assert.equal(posts[0]?.headers.authorization, 'Bearer test-api-key')
    })

    test('none with X-Daytona-Skip-Last-Activity-Update: true', T, async () => {
      const sbx = s.sandbox()
      for (let i = 0; i < 2; i++) echoOf(await s.send(s.host(3000, sbx.id), '/', { headers: { ...tok(sbx), 'x-daytona-skip-last-activity-update': 'true' } }))
      await settleActivity()
      assert.equal(s.cp.calls(`/sandbox/${sbx.id}/last-activity`).length, 0)
    })
  })
})

describe('SPEC §6 upstream timeout (UPSTREAM_TIMEOUT_SEC=1)', () => {
  let s: Stack
  before(async () => { s = await startStack({ UPSTREAM_TIMEOUT_SEC: '1' }) })
  after(async () => { await s?.close() })

  test('a runner that never answers → 504 UPSTREAM_TIMEOUT after about 1 s', T, async () => {
    const sbx = s.sandbox({ public: true })
    const started = Date.now()
    const r = await s.send(s.host(3000, sbx.id), '/hang')
    const took = Date.now() - started
    const body = assertGatewayError(r, 504, 'UPSTREAM_TIMEOUT')
    assert.deepEqual({ ...body, message: '…' }, { statusCode: 504, error: 'Gateway Timeout', code: 'UPSTREAM_TIMEOUT', message: '…', source: 'DAYTONA_PROXY' })
    assert.ok(took >= 900 && took < 10_000, `took ${took} ms`)
    const rec: RunnerRequest | undefined = s.runner.requests(sbx.id).find((x) => x.route === 'hang')
    assert.ok(rec !== undefined)
    await withTimeout(rec.closed, 5000, 'the timed-out upstream request is closed')
  })

  test('a runner that never answers a WebSocket handshake → 504 UPSTREAM_TIMEOUT after about 1 s', T, async () => {
    const sbx = s.sandbox({ public: true })
    const started = Date.now()
    const o = await openWs({ port: s.gw.port, host: s.host(3000, sbx.id), path: '/ws-hang', timeoutMs: 10_000 })
    const took = Date.now() - started
    assert.equal(o.kind, 'rejected')
    if (o.kind !== 'rejected') return
    assert.equal(o.status, 504)
    assert.equal(o.headers['x-preview-error'], 'UPSTREAM_TIMEOUT')
    assert.ok(took >= 900 && took < 10_000, `took ${took} ms`)
    const rec = s.runner.requests(sbx.id).find((x) => x.route === 'ws-hang')
    assert.ok(rec !== undefined)
    await withTimeout(rec.closed, 5000, 'the timed-out handshake connection is closed')
  })

  test('the clock starts once the request body is fully sent: a slow upload is not cut', { timeout: 30_000 }, async () => {
    const sbx = s.sandbox({ public: true })
    // Far more than loopback socket buffers can absorb (they autotune to several MiB each way):
    // with less, the whole body could be "sent" into kernel buffers during the stall.
    const total = 64 * MiB
    const req = http.request({
      host: '127.0.0.1', port: s.gw.port, method: 'POST', path: `/upload?stallAfter=${MiB}`, agent: false,
      headers: { host: s.host(3000, sbx.id), 'content-length': String(total) },
    })
    const response = new Promise<IncomingMessage>((resolve, reject) => { req.once('response', resolve); req.once('error', reject) })
    const chunk = Buffer.alloc(64 * 1024, 'x')
    let written = 0
    const writer = (async (): Promise<void> => {
      while (written < total) {
        written += chunk.length
        if (!req.write(chunk)) await once(req, 'drain')
      }
      req.end()
    })()
    await s.runner.waitForRequest((r) => r.sandboxId === sbx.id && r.route === 'upload', 5000)
    await waitForPlateau(() => written, 700, 15_000)
    // The subject of this test is a stall longer than UPSTREAM_TIMEOUT_SEC, not synchronisation.
    await new Promise<void>((r) => setTimeout(r, 1500))
    s.runner.releaseUploads()
    await withTimeout(writer, 15_000, 'upload written')
    const res = await withTimeout(response, 15_000, 'upload response')
    const chunks: Buffer[] = []
    for await (const c of res) chunks.push(c as Buffer)
    assert.equal(res.statusCode, 200, Buffer.concat(chunks).toString('utf8').slice(0, 200))
    assert.equal((JSON.parse(Buffer.concat(chunks).toString('utf8')) as { bytes: number }).bytes, total)
  })
})
