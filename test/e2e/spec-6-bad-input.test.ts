/**
 * SPEC §1/§6 — malformed and smuggling-shaped requests over raw sockets: two Host headers,
 * absolute-form authority mismatch, CL+TE, duplicate Content-Length, obs-fold, NUL / bare CR,
 * bad chunk sizes (400 and closed, nothing forwarded), headers over 16 KiB (431), slowloris
 * (headers must arrive within 10 s), requests pipelined behind an answer that closes, bytes that do
 * not parse behind an answer under way, and the process keeps serving afterwards.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { startStack } from '../helpers/stack.js'
import type { SandboxHandle, Stack } from '../helpers/stack.js'
import { RawConnection, rawExchange } from '../helpers/gateway.js'
import { echoOf } from '../helpers/assertions.js'
import { waitUntil } from '../helpers/http.js'

const T = { timeout: 20_000 }

describe('SPEC §6 bad input', () => {
  let s: Stack
  let pub: SandboxHandle
  let other: SandboxHandle
  before(async () => {
    s = await startStack()
    pub = s.sandbox({ public: true })
    other = s.sandbox({ public: true })
  })
  after(async () => { await s?.close() })

  const host = (): string => s.host(3000, pub.id)
  const nothingForwarded = (): void => {
    assert.deepEqual(s.runner.requests(pub.id).map((r) => r.url), [], 'nothing forwarded')
    assert.deepEqual(s.runner.requests(other.id).map((r) => r.url), [], 'nothing forwarded to another sandbox')
  }

  /** 400, connection closed, nothing forwarded. */
  async function expect400Closed(payload: string): Promise<void> {
    const { response, closed } = await rawExchange(s.gw.port, payload, { closeWithinMs: 3000 })
    assert.equal(response.status, 400, `got ${response.status} for ${JSON.stringify(payload.slice(0, 120))}`)
    assert.ok(closed, 'connection closed after the 400')
    nothingForwarded()
  }

  test('two Host headers → 400 (different values)', T, async () => {
    // SPEC §6 asks for 400 here; "and closed" is only asked for ambiguous framing.
    const { response } = await rawExchange(s.gw.port, `GET /echo HTTP/1.1\r\nHost: ${host()}\r\nHost: ${s.host(3000, other.id)}\r\n\r\n`)
    assert.equal(response.status, 400)
    nothingForwarded()
  })

  test('no Host header → 400 and closed, before any routing or control-plane call (SPEC §1, RFC 9112 §3.2)', T, async () => {
    const before = s.cp.calls().length
    for (const payload of [
      'GET / HTTP/1.1\r\n\r\n',
      `GET /echo?DAYTONA_SANDBOX_AUTH_KEY=${pub.token} HTTP/1.1\r\nX-Daytona-Preview-Token: ${pub.token}\r\n\r\n`,
      'GET /health HTTP/1.1\r\nUser-Agent: probe\r\n\r\n',
      'GET /chat HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
    ]) {
      const { response, closed } = await rawExchange(s.gw.port, payload, { closeWithinMs: 3000 })
      assert.equal(response.status, 400, JSON.stringify(payload))
      assert.equal(response.headers['x-preview-error'], 'BAD_REQUEST')
      assert.ok(closed, `connection closed after the 400: ${JSON.stringify(payload)}`)
    }
    assert.equal(s.cp.calls().length, before, 'no control-plane call')
    nothingForwarded()
  })

  test('two Authorization headers → 400, nothing forwarded (one would be examined, the other passed to the app unseen)', T, async () => {
    const { response } = await rawExchange(s.gw.port, `GET /echo HTTP/1.1\r\nHost: ${host()}\r\nAuthorization: Basic YTpi\r\nAuthorization: Bearer ${pub.id}-user-bearer\r\n\r\n`)
    assert.equal(response.status, 400)
    nothingForwarded()
  })

  test('two Host headers → 400 (same value)', T, async () => {
    const { response } = await rawExchange(s.gw.port, `GET /echo HTTP/1.1\r\nHost: ${host()}\r\nHost: ${host()}\r\n\r\n`)
    assert.equal(response.status, 400)
    nothingForwarded()
  })

  test('absolute-form target whose authority differs from Host → 400 (other sandbox, other port, other domain)', T, async () => {
    for (const authority of [s.host(3000, other.id), `${host()}:8080`, `3000-${pub.id}.other.test`]) {
      const { response } = await rawExchange(s.gw.port, `GET http://${authority}/echo HTTP/1.1\r\nHost: ${host()}\r\n\r\n`)
      assert.equal(response.status, 400, `authority ${authority}`)
    }
    nothingForwarded()
  })

  test('absolute-form target matching Host (case-insensitively) is served with the origin-form path', T, async () => {
    const ok = s.sandbox({ public: true })
    const conn = await RawConnection.open(s.gw.port)
    try {
      await conn.write(`GET http://3000-${ok.id}.PREVIEW.test/echo?x=1 HTTP/1.1\r\nHost: ${s.host(3000, ok.id)}\r\nConnection: close\r\n\r\n`)
      const r = await conn.response(5000)
      assert.equal(r.status, 200, r.body.toString('utf8').slice(0, 200))
      const echo = JSON.parse(r.body.toString('utf8')) as { url: string }
      assert.equal(echo.url, `/sandboxes/${ok.id}/toolbox/proxy/3000/echo?x=1`)
    } finally {
      conn.destroy()
    }
    assert.equal(s.runner.requests(ok.id).length, 1)
  })

  test('Content-Length together with Transfer-Encoding → 400, closed, nothing forwarded', T, async () => {
    await expect400Closed(`POST /echo HTTP/1.1\r\nHost: ${host()}\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: ${host()}\r\n\r\n`)
  })

  test('two different Content-Length headers → 400', T, async () => {
    await expect400Closed(`POST /echo HTTP/1.1\r\nHost: ${host()}\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!`)
  })

  test('obs-fold (a header continued on the next line) → 400', T, async () => {
    await expect400Closed(`GET /echo HTTP/1.1\r\nHost: ${host()}\r\nX-Folded: first\r\n second\r\n\r\n`)
  })

  test('NUL in a header value → 400', T, async () => {
    await expect400Closed(`GET /echo HTTP/1.1\r\nHost: ${host()}\r\nX-Nul: a\u0000b\r\n\r\n`)
  })

  test('bare CR in a header value → 400', T, async () => {
    await expect400Closed(`GET /echo HTTP/1.1\r\nHost: ${host()}\r\nX-Cr: a\rb\r\n\r\n`)
  })

  test('whitespace between a header name and the colon → 400', T, async () => {
    await expect400Closed(`POST /echo HTTP/1.1\r\nHost: ${host()}\r\nTransfer-Encoding : chunked\r\nContent-Length: 3\r\n\r\nabc`)
  })

  test('a bad chunk size → 400', T, async () => {
    await expect400Closed(`POST /echo HTTP/1.1\r\nHost: ${host()}\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n`)
  })

  test('request headers over 16 KiB → 431', T, async () => {
    const { response } = await rawExchange(s.gw.port, `GET /echo HTTP/1.1\r\nHost: ${host()}\r\nX-Big: ${'a'.repeat(17 * 1024)}\r\n\r\n`)
    assert.equal(response.status, 431)
    nothingForwarded()
  })

  test('more than 1000 header lines → 431 and closed, on every Node (Node 20 would drop the lines after ~1024 unseen)', T, async () => {
    for (const filler of [999, 1022, 1500]) {
      const payload = `GET /echo HTTP/1.1\r\nHost: ${host()}\r\n${'a: b\r\n'.repeat(filler)}Host: ${s.host(3000, other.id)}\r\n\r\n`
      const { response, closed } = await rawExchange(s.gw.port, payload, { closeWithinMs: 3000 })
      assert.equal(response.status, 431, `${filler} filler lines`)
      assert.ok(closed, 'closed after the 431')
    }
    const { response } = await rawExchange(s.gw.port, `GET /echo HTTP/1.1\r\nHost: ${host()}\r\n${'a: b\r\n'.repeat(998)}Host: ${s.host(3000, other.id)}\r\n\r\n`)
    assert.equal(response.status, 400, '1000 lines are read to the end: the second Host is seen')
    nothingForwarded()
  })

  test('a request line in HTTP/2.0 (or any version but 1.x) → 505 and closed, nothing forwarded', T, async () => {
    for (const version of ['2.0', '3.0']) {
      const { response, closed } = await rawExchange(s.gw.port, `GET /echo HTTP/${version}\r\nHost: ${host()}\r\n\r\n`, { closeWithinMs: 3000 })
      if (response.status === 400) continue // the parser itself refused this version
      assert.equal(response.status, 505, `HTTP/${version}`)
      assert.ok(closed, 'closed after the 505')
    }
    nothingForwarded()
  })

  test('CONNECT (a forward-proxy tunnel) → 400 and closed, nothing forwarded', T, async () => {
    for (const target of [`${host()}:443`, '127.0.0.1:22']) await expect400Closed(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\n`)
  })

  test('request headers of 12 KiB are accepted', T, async () => {
    const ok = s.sandbox({ public: true })
    echoOf(await s.send(s.host(3000, ok.id), '/echo', { headers: { 'x-big': 'b'.repeat(12 * 1024) } }))
  })

  test('slowloris: a connection whose headers never complete is closed within ~10 s', { timeout: 45_000 }, async () => {
    const trickle = await RawConnection.open(s.gw.port)
    const silent = await RawConnection.open(s.gw.port)
    const started = Date.now()
    await trickle.write(`GET /echo HTTP/1.1\r\nHost: ${host()}\r\n`)
    await silent.write('GET /echo HTTP/1.1\r\n')
    // The attack: keep bytes moving, one header byte every 500 ms, never finishing the head.
    const drip = setInterval(() => { if (!trickle.closed) trickle.write('X').catch(() => {}) }, 500)
    try {
      const [a, b] = await Promise.all([trickle.waitClosed(25_000), silent.waitClosed(25_000)])
      assert.ok(a, 'trickling connection closed')
      assert.ok(b, 'silent connection closed')
      const took = Math.max(trickle.closedAt ?? Infinity, silent.closedAt ?? Infinity) - started
      assert.ok(took < 20_000, `closed after ${took} ms (headers must arrive within 10 s)`)
    } finally {
      clearInterval(drip)
      trickle.destroy()
      silent.destroy()
    }
    nothingForwarded()
  })

  test('requests pipelined behind an answer that closes the connection are not processed (RFC 9112 §9.6)', T, async () => {
    const first = s.sandbox({ public: true })
    const side = s.sandbox({ public: true })
    const second = `POST /side-effect HTTP/1.1\r\nHost: ${s.host(3000, side.id)}\r\nContent-Length: 0\r\n\r\n`
    // Refused with a close (no Host; two Hosts; an absolute-form target for another host), then a second request in the same write.
    for (const refused of [
      'GET / HTTP/1.1\r\n\r\n',
      `GET /echo HTTP/1.1\r\nHost: ${host()}\r\nHost: ${s.host(3000, other.id)}\r\n\r\n`,
      `GET http://${s.host(3000, other.id)}/echo HTTP/1.1\r\nHost: ${host()}\r\n\r\n`,
    ]) {
      const { response, closed } = await rawExchange(s.gw.port, refused + second, { closeWithinMs: 3000 })
      assert.equal(response.status, 400, JSON.stringify(refused))
      assert.ok(closed, 'closed after the 400')
    }
    // The client itself asked for the close.
    const { response, closed } = await rawExchange(s.gw.port, `GET /echo HTTP/1.1\r\nHost: ${s.host(3000, first.id)}\r\nConnection: close\r\n\r\n${second}`, { closeWithinMs: 3000 })
    assert.equal(response.status, 200)
    assert.ok(closed, 'closed after the answer')
    assert.deepEqual(s.runner.requests(first.id).map((r) => r.rest), ['/echo'])
    assert.deepEqual(s.runner.requests(side.id).map((r) => r.url), [], 'nothing behind a closing answer was forwarded')
    nothingForwarded()
  })

  test('bytes that do not parse behind a request whose answer is under way: that answer arrives whole, then the connection closes', T, async () => {
    const sse = s.sandbox({ public: true })
    const c = await RawConnection.open(s.gw.port)
    try {
      await c.write(`GET /sse?count=5&interval=100 HTTP/1.1\r\nHost: ${s.host(3000, sse.id)}\r\n\r\n`)
      await waitUntil(() => c.received.includes('\r\n\r\n'), { timeoutMs: 5000, intervalMs: 10, message: 'answer head' })
      await c.write('GARBAGE\r\n\r\n')
      const r = await c.response(5000)
      assert.equal(r.status, 200)
      assert.equal(r.body.toString('utf8').split('\n\n').filter((e) => e.includes('data: tick')).length, 5, 'all five events')
      assert.ok(await c.waitClosed(3000), 'closed after the answer')
      assert.equal(c.received.length, 0, `nothing after the answer: ${JSON.stringify(c.received.toString('latin1').slice(0, 80))}`)
    } finally {
      c.destroy()
    }
  })

  test('the process keeps serving afterwards', T, async () => {
    assert.equal(s.gw.exitInfo, undefined, 'gateway still running')
    const health = await s.send('preview.test', '/health')
    assert.equal(health.status, 200)
    const ok = s.sandbox({ public: true })
    echoOf(await s.send(s.host(3000, ok.id), '/after'))
  })
})
