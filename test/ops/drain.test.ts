/**
 * Operations — graceful drain (SPEC §8; src/main.ts and gateway.ts close()): on SIGTERM readiness
 * turns false at once, the listener keeps serving during SHUTDOWN_DELAY_SEC, then new connections
 * are refused, an in-flight request finishes, open WebSockets are held to the deadline and then get
 * close code 1001 (going away), and the process exits 0 within SHUTDOWN_DELAY_SEC +
 * SHUTDOWN_TIMEOUT_SEC. A second signal during the drain exits at once.
 */
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import type { WebSocket } from 'ws'
import { newId, waitUntil, withTimeout } from '../helpers/http.js'
import type { Reply } from '../helpers/http.js'
import { echoOf } from '../helpers/assertions.js'
import { openWs, roundTrip } from '../helpers/ws.js'
import { closing, connectRefused, DOMAIN, startOpsStack, startSlowUpstream } from './support.js'

const KEY = 'DAYTONA_SANDBOX_AUTH_KEY'
// A pre-stop delay long enough that a loaded CI machine still fits the probes inside it.
const DELAY_SEC = 3
const TIMEOUT_SEC = 4
const SLOW_MS = 1500
const SLACK_MS = 2500

interface Closed { readonly code: number; readonly at: number }


function closeEvent(ws: WebSocket): Promise<Closed> {
  return new Promise<Closed>((resolve) => {
    ws.once('close', (code: number) => resolve({ code, at: Date.now() }))
    ws.on('error', () => { /* reported through the close code */ })
  })
}

async function openEcho(port: number, host: string, token: string): Promise<WebSocket> {
  const o = await openWs({ port, host, path: `/chat?${KEY}=${token}` })
  assert.equal(o.kind, 'open', `WebSocket opens through the gateway${o.kind === 'rejected' ? ` (got ${o.status} ${o.body})` : ''}`)
  if (o.kind !== 'open') throw new Error('unreachable')
  assert.equal((await roundTrip(o.ws, 'hello')).data.toString(), 'hello')
  return o.ws
}

function keepAliveGet(agent: http.Agent, port: number, host: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, headers: { host }, agent })
    req.setTimeout(5000, () => req.destroy(new Error('keep-alive request timed out')))
    req.on('error', reject)
    req.on('response', (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => { body += c })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
    })
    req.end()
  })
}

function countSockets(agent: http.Agent): number {
  let n = 0
  for (const list of Object.values(agent.freeSockets)) n += list?.length ?? 0
  return n
}

describe('ops: SIGTERM drains', () => {
  test('readiness 503 at once, serving during the pre-stop delay, in-flight request completes, WebSockets get 1001, exit 0', { timeout: 40_000 }, async () => {
    const slow = await startSlowUpstream(SLOW_MS)
    const s = await startOpsStack({ SHUTDOWN_DELAY_SEC: String(DELAY_SEC), SHUTDOWN_TIMEOUT_SEC: String(TIMEOUT_SEC) }).catch(closing(slow))
    const sockets: WebSocket[] = []
    try {
      const slowSbx = s.sandbox({ prefix: 'slow', runner: { id: newId('runner-slow'), proxyUrl: slow.url, apiUrl: slow.url, apiKey: 'slow-runner-key' } })
      const sbx = s.sandbox()
      const port = s.gw.port

      const ready = await s.send(DOMAIN, '/ready')
      assert.equal(ready.status, 200, `ready before the signal: ${ready.text}`)

      for (let i = 0; i < 2; i++) sockets.push(await openEcho(port, s.host(3000, sbx.id), sbx.token))
      const closes = sockets.map(closeEvent)

      // The slow request is in flight (the upstream has it) when the signal arrives.
      const slowReply: Promise<Reply> = s.send(s.host(3000, slowSbx.id), '/slow', { headers: { 'x-daytona-preview-token': slowSbx.token }, timeoutMs: 20_000 })
      slowReply.catch(() => { /* asserted below */ })
      await waitUntil(() => slow.received.length >= 1, { timeoutMs: 5000, message: 'slow upstream received the request' })

      const t0 = Date.now()
      s.gw.child.kill('SIGTERM')

      // Readiness false at once (well inside the pre-stop delay).
      const notReady = await waitUntil(async () => {
        const r = await s.send(DOMAIN, '/ready', { timeoutMs: 1000 })
        return r.status === 503 ? r : undefined
      }, { timeoutMs: (DELAY_SEC * 1000) / 2, intervalMs: 20, message: '/ready answers 503 right after SIGTERM' })
      assert.ok(Date.now() - t0 < DELAY_SEC * 1000, 'readiness turned false before the pre-stop delay ended')
      assert.deepEqual(notReady.json(), { status: 'draining' })
      // Liveness stays up, and the listener still serves new connections during the delay.
      const health = await s.send(DOMAIN, '/health', { timeoutMs: 1000 })
      assert.equal(health.status, 200, '/health still 200 while draining')
      const sentAt = Date.now() - t0
      echoOf(await s.send(s.host(3000, sbx.id), '/during-delay', { headers: { 'x-daytona-preview-token': sbx.token }, timeoutMs: 5000 }))
      assert.ok(sentAt < DELAY_SEC * 1000 - 100, `precondition: the request was sent inside the pre-stop delay (${sentAt} ms after the signal)`)

      // After the delay: new connections are refused.
      await waitUntil(() => connectRefused(port, 500), { timeoutMs: DELAY_SEC * 1000 + 2000, intervalMs: 50, message: 'new connections refused after the pre-stop delay' })
      assert.ok(Date.now() - t0 >= DELAY_SEC * 1000 - 100, 'the listener kept accepting for the whole pre-stop delay')

      // The in-flight request completes normally.
      const r = await withTimeout(slowReply, SLOW_MS + 5000, 'slow in-flight request')
      assert.equal(r.status, 200, `in-flight request completed: ${r.text.slice(0, 200)}`)
      assert.equal(r.text, 'slow done')

      // WebSockets are held open to the deadline (still echoing after the HTTP request ended) ...
      for (const ws of sockets) assert.equal((await roundTrip(ws, 'still here', 2000)).data.toString(), 'still here')
      // ... then closed with 1001 going away.
      const deadlineMs = (DELAY_SEC + TIMEOUT_SEC) * 1000
      const got = await withTimeout(Promise.all(closes), deadlineMs + SLACK_MS, 'WebSocket close events')
      for (const c of got) {
        assert.equal(c.code, 1001, `WebSocket close code 1001 going away (got ${c.code})`)
        assert.ok(c.at - t0 >= deadlineMs - 300, `WebSocket kept until the drain deadline (closed after ${c.at - t0} ms, deadline ${deadlineMs} ms)`)
      }

      // Exit 0 within SHUTDOWN_DELAY_SEC + SHUTDOWN_TIMEOUT_SEC + slack.
      const exit = await withTimeout(s.gw.exited, deadlineMs + SLACK_MS, 'gateway exit after SIGTERM')
      const exitedAfter = Date.now() - t0
      assert.deepEqual(exit, { code: 0, signal: null }, `exit 0 after a completed drain:\n${s.gw.output().slice(-2000)}`)
      assert.ok(exitedAfter <= deadlineMs + SLACK_MS, `exited within ${deadlineMs + SLACK_MS} ms (took ${exitedAfter} ms)`)
      // Log lines are batched per event-loop turn: the one written just before exit still arrives.
      await waitUntil(() => s.stdoutLines().some((l) => l.includes('drained, exiting')), { timeoutMs: 3000, message: 'the last log line (written at exit) reached stdout' })
    } finally {
      for (const ws of sockets) ws.terminate()
      await s.close()
      await slow.close()
    }
  })

  test('SIGINT drains too: idle keep-alive connections do not hold the drain, exit 0 as soon as the in-flight request is done', { timeout: 30_000 }, async () => {
    const slow = await startSlowUpstream(SLOW_MS)
    const s = await startOpsStack({ SHUTDOWN_DELAY_SEC: '0', SHUTDOWN_TIMEOUT_SEC: '15' }).catch(closing(slow))
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
    try {
      const slowSbx = s.sandbox({ prefix: 'slow', runner: { id: newId('runner-slow'), proxyUrl: slow.url, apiUrl: slow.url, apiKey: 'slow-runner-key' } })
      // An idle keep-alive connection in a client pool.
      const idle = await keepAliveGet(agent, s.gw.port, DOMAIN, '/health')
      assert.equal(idle.status, 200)
      assert.equal(countSockets(agent), 1, 'the client keeps one idle keep-alive connection')
      const slowReply: Promise<Reply> = s.send(s.host(3000, slowSbx.id), '/slow', { headers: { 'x-daytona-preview-token': slowSbx.token }, timeoutMs: 20_000 })
      slowReply.catch(() => { /* asserted below */ })
      await waitUntil(() => slow.received.length >= 1, { timeoutMs: 5000, message: 'slow upstream received the request' })
      const t0 = Date.now()
      s.gw.child.kill('SIGINT')
      const r = await withTimeout(slowReply, SLOW_MS + 5000, 'slow in-flight request')
      assert.equal(r.status, 200)
      assert.equal(r.text, 'slow done')
      const exit = await withTimeout(s.gw.exited, 5000 + SLACK_MS, 'gateway exit after SIGINT')
      const took = Date.now() - t0
      assert.deepEqual(exit, { code: 0, signal: null }, `exit 0 after a completed drain:\n${s.gw.output().slice(-2000)}`)
      // Far below the 15 s deadline, with room for a loaded machine's process exit.
      assert.ok(took < 10_000, `exited soon after the last request ended, not at the 15 s deadline (took ${took} ms)`)
    } finally {
      agent.destroy()
      await s.close()
      await slow.close()
    }
  })

  test('a request that outlives SHUTDOWN_TIMEOUT_SEC is cut at the deadline and the process still exits', { timeout: 30_000 }, async () => {
    const s = await startOpsStack({ SHUTDOWN_DELAY_SEC: '0', SHUTDOWN_TIMEOUT_SEC: '1' })
    try {
      const sbx = s.sandbox()
      const hanging = s.send(s.host(3000, sbx.id), '/hang', { headers: { 'x-daytona-preview-token': sbx.token }, timeoutMs: 20_000 })
      const outcome = hanging.then((r) => `status ${r.status}`, (err: Error) => `error ${err.message}`)
      await s.runner.waitForRequest((r) => r.route === 'hang' && r.sandboxId === sbx.id, 5000)
      const t0 = Date.now()
      s.gw.child.kill('SIGTERM')
      const exit = await withTimeout(s.gw.exited, 1000 + 4 * SLACK_MS, 'gateway exit at the drain deadline')
      const took = Date.now() - t0
      assert.ok(exit.code !== null, `exited by itself (code ${exit.code}, signal ${exit.signal})`)
      assert.ok(took >= 1000 - 100, `the in-flight request got the whole SHUTDOWN_TIMEOUT_SEC (exit after ${took} ms)`)
      const o = await withTimeout(outcome, 3000, 'the hanging request ended')
      assert.ok(o.length > 0)
    } finally {
      await s.close()
    }
  })

  test('a second SIGTERM during the drain exits at once', { timeout: 30_000 }, async () => {
    const s = await startOpsStack({ SHUTDOWN_DELAY_SEC: '0', SHUTDOWN_TIMEOUT_SEC: '20' })
    let ws: WebSocket | undefined
    try {
      const sbx = s.sandbox()
      // An open WebSocket holds the drain to its 20 s deadline.
      ws = await openEcho(s.gw.port, s.host(3000, sbx.id), sbx.token)
      const closed = closeEvent(ws)
      s.gw.child.kill('SIGTERM')
      await waitUntil(() => s.stdoutLines().some((l) => l.includes('"draining"') || l.includes('draining')), { timeoutMs: 3000, message: 'the gateway logged that it is draining' })
      await waitUntil(() => connectRefused(s.gw.port, 500), { timeoutMs: 3000, intervalMs: 50, message: 'drain started (listener closed)' })
      assert.equal(s.gw.exitInfo, undefined, 'still draining (held by the WebSocket) before the second signal')
      const t1 = Date.now()
      s.gw.child.kill('SIGTERM')
      const exit = await withTimeout(s.gw.exited, 12_000, 'exit after the second SIGTERM')
      const took = Date.now() - t1
      // "At once" against the 20 s deadline the WebSocket would hold: a loaded machine's exit can take seconds.
      assert.ok(took < 10_000, `exited at once after the second signal, not at the 20 s deadline (took ${took} ms)`)
      assert.ok(exit.code !== null || exit.signal !== null, 'the process ended')
      const c = await withTimeout(closed, 3000, 'WebSocket closed when the process exited')
      assert.ok(typeof c.code === 'number')
    } finally {
      ws?.terminate()
      await s.close()
    }
  })
})
