/**
 * Operations — what the counters mean (src/metrics/metrics.ts help texts, src/listener/accounting.ts):
 * gateway_upstream_errors_total counts upstream failures by kind (connect, timeout, reset, other),
 * and code="499" in gateway_requests_total / status 499 in the access log means "client gone before
 * the end". An operator must be able to tell a runner that dies mid-response from a client that
 * went away: the first is an upstream error, the second is not.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import { freePort, newId, waitUntil } from '../helpers/http.js'
import { assertGatewayError } from '../helpers/assertions.js'
import { openWs } from '../helpers/ws.js'
import { parseExposition, scrape, startOpsStack } from './support.js'
import type { OpsStack, Sample } from './support.js'

const T = { timeout: 20_000 }

function value(samples: readonly Sample[], name: string, labels: Readonly<Record<string, string>>): number {
  return samples
    .filter((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v))
    .reduce((n, x) => n + x.value, 0)
}

describe('ops: upstream errors and client aborts are counted as what they are', () => {
  let s: OpsStack
  let metricsPort: number

  before(async () => {
    metricsPort = await freePort()
    s = await startOpsStack({ METRICS_PORT: String(metricsPort), METRICS_BIND: '127.0.0.1', UPSTREAM_TIMEOUT_SEC: '1', LOG_LEVEL: 'info' })
  }, { timeout: 20_000 })

  after(async () => { await s?.close() }, { timeout: 10_000 })

  const snap = async (): Promise<Sample[]> => parseExposition(await scrape(metricsPort))
  const accessLines = (): Array<Record<string, unknown>> => s.stdoutLines()
    .map((l) => { try { return JSON.parse(l) as Record<string, unknown> } catch { return {} } })
    .filter((j) => j.msg === 'access' && j.kind === 'preview')

  test('a warm request counts one cache hit per answer it uses, whether the gateway decides at once or asks again', T, async () => {
    const sbx = s.sandbox()
    const host = s.host(3000, sbx.id)
    const hits = (m: readonly Sample[], cache: string): number => value(m, 'gateway_cache_lookups_total', { cache, result: 'hit' })
    assert.equal((await s.send(host, '/', { headers: { 'x-daytona-preview-token': sbx.token } })).status, 200)
    // Warm and allowed (decided without a promise): public flag, token, runner, one hit each.
    let m0 = await snap()
    for (let i = 0; i < 3; i++) assert.equal((await s.send(host, '/', { headers: { 'x-daytona-preview-token': sbx.token } })).status, 200)
    let m1 = await snap()
    for (const cache of ['public', 'preview_token', 'runner']) assert.equal(hits(m1, cache) - hits(m0, cache), 3, `${cache} hits of 3 warm requests`)
    // A cached "no" (the warm path gives up and the full chain decides): each answer still counted once.
    assert.equal((await s.send(host, '/', { headers: { 'x-daytona-preview-token': 'not-the-token', accept: 'application/json' } })).status, 401)
    m0 = await snap()
    for (let i = 0; i < 2; i++) assert.equal((await s.send(host, '/', { headers: { 'x-daytona-preview-token': 'not-the-token', accept: 'application/json' } })).status, 401)
    m1 = await snap()
    for (const cache of ['public', 'preview_token']) assert.equal(hits(m1, cache) - hits(m0, cache), 2, `${cache} hits of 2 refused warm requests`)
  })

  test('connect failure → upstream_errors{kind="connect"}; no headers in time → kind="timeout"', T, async () => {
    const dead = await freePort()
    const down = s.sandbox({ prefix: 'down', runner: { id: newId('runner-down'), proxyUrl: `http://127.0.0.1:${dead}`, apiUrl: `http://127.0.0.1:${dead}`, apiKey: 'k' } })
    const sbx = s.sandbox()
    const m0 = await snap()
    assertGatewayError(await s.send(s.host(3000, down.id), '/', { headers: { 'x-daytona-preview-token': down.token } }), 502, 'UPSTREAM_UNREACHABLE')
    assertGatewayError(await s.send(s.host(3000, sbx.id), '/hang', { headers: { 'x-daytona-preview-token': sbx.token, accept: 'application/json' } }), 504, 'UPSTREAM_TIMEOUT')
    const m1 = await snap()
    assert.equal(value(m1, 'gateway_upstream_errors_total', { kind: 'connect' }) - value(m0, 'gateway_upstream_errors_total', { kind: 'connect' }), 1, 'one connect error')
    assert.equal(value(m1, 'gateway_upstream_errors_total', { kind: 'timeout' }) - value(m0, 'gateway_upstream_errors_total', { kind: 'timeout' }), 1, 'one timeout')
  })

  test('a client that goes away mid-response is a 499, not an upstream error', T, async () => {
    const sbx = s.sandbox()
    const m0 = await snap()
    // /drip streams forever; the client reads the first bytes and hangs up.
    await new Promise<void>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: s.gw.port, path: '/drip', headers: { host: s.host(3000, sbx.id), 'x-daytona-preview-token': sbx.token }, agent: false })
      req.on('error', () => resolve())
      req.on('response', (res) => {
        if (res.statusCode !== 200) { reject(new Error(`drip answered ${res.statusCode}`)); return }
        res.once('data', () => { req.destroy(); resolve() })
      })
      req.end()
    })
    const m1 = await waitUntil(async () => {
      const m = await snap()
      return value(m, 'gateway_requests_total', { kind: 'preview', code: '499' }) > value(m0, 'gateway_requests_total', { kind: 'preview', code: '499' }) ? m : undefined
    }, { timeoutMs: 5000, message: 'the client abort counted as code="499"' })
    assert.equal(value(m1, 'gateway_upstream_errors_total', {}), value(m0, 'gateway_upstream_errors_total', {}), 'a client abort is no upstream error')
  })

  test('a runner that dies mid-response is an upstream error (kind="reset"), not a client abort (499)', T, async () => {
    const sbx = s.sandbox()
    const m0 = await snap()
    // /abort-mid: 200, headers and 4 KiB, then the runner destroys the connection.
    const outcome = await s.send(s.host(3000, sbx.id), '/abort-mid', { headers: { 'x-daytona-preview-token': sbx.token } }).then((r) => `complete ${r.status}`, () => 'cut')
    assert.equal(outcome, 'cut', 'the client sees the response cut (no error body appended)')
    await waitUntil(() => accessLines().some((a) => a.sandbox === sbx.id), { timeoutMs: 5000, message: 'access line of the cut response' })
    const m1 = await snap()
    const line = accessLines().find((a) => a.sandbox === sbx.id)
    const problems: string[] = []
    const reset = value(m1, 'gateway_upstream_errors_total', { kind: 'reset' }) - value(m0, 'gateway_upstream_errors_total', { kind: 'reset' })
    if (reset !== 1) problems.push(`gateway_upstream_errors_total{kind="reset"} grew by ${reset}, expected 1`)
    const c499 = value(m1, 'gateway_requests_total', { kind: 'preview', code: '499' }) - value(m0, 'gateway_requests_total', { kind: 'preview', code: '499' })
    if (c499 !== 0) problems.push(`gateway_requests_total{code="499"} (client gone) grew by ${c499} although the client stayed`)
    if (line?.status === 499) problems.push(`access line says status 499 (client gone): ${JSON.stringify(line)}`)
    assert.deepEqual(problems, [], 'an upstream failure after the headers is visible as an upstream failure')
  })

  test('a WebSocket whose runner is down is an upstream connect error', T, async () => {
    const dead = await freePort()
    const down = s.sandbox({ prefix: 'wsdown', runner: { id: newId('runner-down'), proxyUrl: `http://127.0.0.1:${dead}`, apiUrl: `http://127.0.0.1:${dead}`, apiKey: 'k' } })
    const m0 = await snap()
    const o = await openWs({ port: s.gw.port, host: s.host(3000, down.id), path: '/ws?DAYTONA_SANDBOX_AUTH_KEY=' + down.token })
    assert.equal(o.kind, 'rejected')
    if (o.kind === 'rejected') assert.equal(o.status, 502, 'the upgrade is refused 502 UPSTREAM_UNREACHABLE')
    const m1 = await snap()
    const connect = value(m1, 'gateway_upstream_errors_total', { kind: 'connect' }) - value(m0, 'gateway_upstream_errors_total', { kind: 'connect' })
    assert.equal(connect, 1, `gateway_upstream_errors_total{kind="connect"} counts the failed tunnel (grew by ${connect})`)
  })
})
