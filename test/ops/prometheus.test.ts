/**
 * Operations: a real Prometheus (Debian's `prometheus` binary, our own process on a loopback
 * port, temp config and TSDB) scrapes the gateway's METRICS_PORT every second while we drive
 * traffic through it (preview requests with a preview token, a 401, a WebSocket, a control-plane
 * failure, a runner that is down). Then the Prometheus HTTP API must show the target up and every
 * family of src/metrics/metrics.ts plus prom-client's defaults. SPEC §8: `/metrics` is served on
 * METRICS_PORT only, never on the public port.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { assertGatewayError, echoOf } from '../helpers/assertions.js'
import { freePort, newId, waitUntil } from '../helpers/http.js'
import { closeWs, openWs, roundTrip } from '../helpers/ws.js'
import type { SandboxHandle } from '../helpers/stack.js'
import { DOMAIN, findPrometheus, scrape, startOpsStack, startPrometheus } from './support.js'
import type { OpsStack, PrometheusServer, PromVectorSample } from './support.js'

const PROMETHEUS = findPrometheus()
const SKIP = PROMETHEUS === undefined
  ? 'PROMETHEUS NOT INSTALLED: `apt-get install -y prometheus` failed or was not run; the real-Prometheus scrape test is SKIPPED'
  : false
if (SKIP !== false) process.stderr.write(`\n!!!!!!!!!!\n!!! ${SKIP}\n!!!!!!!!!!\n\n`)

const T = { timeout: 45_000 }
const KEY = 'DAYTONA_SANDBOX_AUTH_KEY'

/** Families the gateway must export (metrics.ts) and prom-client defaults a dashboard needs. */
const FAMILIES = [
  'gateway_requests_total',
  'gateway_request_duration_seconds_bucket',
  'gateway_upstream_connect_seconds_bucket',
  'gateway_upstream_time_to_headers_seconds_bucket',
  'gateway_upstream_errors_total',
  'gateway_open_connections',
  'gateway_inflight_requests',
  'gateway_websockets_active',
  'gateway_websockets_total',
  'gateway_auth_decisions_total',
  'gateway_control_plane_calls_total',
  'gateway_control_plane_call_duration_seconds_bucket',
  'gateway_cache_lookups_total',
  'gateway_cache_entries',
  'gateway_bytes_total',
  'gateway_build_info',
  'process_cpu_seconds_total',
  'nodejs_eventloop_lag_seconds',
] as const

function total(v: readonly PromVectorSample[]): number {
  return v.reduce((n, s) => n + Number(s.value[1]), 0)
}

describe('ops: a real Prometheus scrapes METRICS_PORT', { skip: SKIP }, () => {
  let s: OpsStack
  let prom: PrometheusServer
  let metricsPort: number

  before(async () => {
    metricsPort = await freePort()
    s = await startOpsStack({ METRICS_PORT: String(metricsPort), METRICS_BIND: '127.0.0.1', API_CLIENT_TIMEOUT_SEC: '2' })
    try {
      prom = await startPrometheus(PROMETHEUS as string, 'gateway', [`127.0.0.1:${metricsPort}`])
    } catch (err) {
      await s.close()
      throw err
    }
  }, { timeout: 40_000 })

  after(async () => {
    await prom?.stop()
    await s?.close()
  }, { timeout: 15_000 })

  test('/metrics is served on METRICS_PORT and never on the public port', T, async () => {
    const text = await scrape(metricsPort)
    assert.match(text, /^# HELP gateway_requests_total /m)
    const pub = await s.send(DOMAIN, '/metrics')
    assertGatewayError(pub, 404, 'NOT_FOUND')
    assert.doesNotMatch(pub.text, /gateway_requests_total|process_cpu/, 'no metrics text on the public port')
    const head = await s.send(DOMAIN, '/metrics', { method: 'HEAD' })
    assert.equal(head.status, 404, 'HEAD /metrics on the public port is 404 too')
  })

  test('Prometheus sees the target up and every family after real traffic', T, async () => {
    // up{job="gateway"} == 1 first: Prometheus found and scraped the target.
    await waitUntil(async () => {
      const v = await prom.query('up{job="gateway"}')
      return v.length === 1 && v[0]?.value[1] === '1'
    }, { timeoutMs: 15_000, intervalMs: 250, message: 'up{job="gateway"} == 1' })

    // Traffic: preview requests with a preview token, a 401, a WebSocket, a control-plane failure, a runner down.
    const sbx: SandboxHandle = s.sandbox()
    for (let i = 0; i < 5; i++) echoOf(await s.send(s.host(3000, sbx.id), `/echo/${i}`, { headers: { 'x-daytona-preview-token': sbx.token } }))
    assertGatewayError(await s.send(s.host(3000, sbx.id), '/echo', { headers: { accept: 'application/json' } }), 401, 'UNAUTHORIZED')

    const cpFail = s.sandbox({ prefix: 'cpfail' })
    s.cp.script(`/preview/${cpFail.id}/public`, [{ status: 500, body: { message: 'boom' } }], { repeatLast: true })
    const failed = await s.send(s.host(3000, cpFail.id), '/', { headers: { accept: 'application/json' } })
    assertGatewayError(failed, [502, 503], 'CONTROL_PLANE_UNAVAILABLE')

    const deadPort = await freePort()
    const down = s.sandbox({ prefix: 'down', runner: { id: newId('runner-down'), proxyUrl: `http://127.0.0.1:${deadPort}`, apiUrl: `http://127.0.0.1:${deadPort}`, apiKey: 'down-key' } })
    assertGatewayError(await s.send(s.host(3000, down.id), '/', { headers: { 'x-daytona-preview-token': down.token } }), 502, 'UPSTREAM_UNREACHABLE')

    const o = await openWs({ port: s.gw.port, host: s.host(3000, sbx.id), path: `/ws?${KEY}=${sbx.token}` })
    assert.equal(o.kind, 'open', 'WebSocket through the gateway opens')
    if (o.kind !== 'open') return
    try {
      assert.equal((await roundTrip(o.ws, 'ping')).data.toString(), 'ping')
      await waitUntil(async () => {
        const v = await prom.query('gateway_websockets_active{job="gateway"}')
        return v.length === 1 && v[0]?.value[1] === '1'
      }, { timeoutMs: 10_000, intervalMs: 250, message: 'Prometheus sees gateway_websockets_active == 1 while the WebSocket is open' })
    } finally {
      await closeWs(o.ws)
    }
    await waitUntil(async () => {
      const v = await prom.query('gateway_websockets_active{job="gateway"}')
      return v.length === 1 && v[0]?.value[1] === '0'
    }, { timeoutMs: 10_000, intervalMs: 250, message: 'gateway_websockets_active back to 0 after the close' })

    // Every family, and the values this traffic must have produced, as Prometheus stores them.
    const checks: ReadonlyArray<readonly [string, (v: readonly PromVectorSample[]) => boolean]> = [
      ['up{job="gateway"}', (v) => v.length === 1 && v[0]?.value[1] === '1'],
      ...FAMILIES.map((f) => [`${f}{job="gateway"}`, (v: readonly PromVectorSample[]) => v.length > 0] as const),
      ['gateway_requests_total{job="gateway",kind="preview",method="GET",code="200"}', (v) => total(v) >= 5],
      ['gateway_requests_total{job="gateway",kind="preview",code="401"}', (v) => total(v) >= 1],
      ['gateway_requests_total{job="gateway",kind="preview",code="502"}', (v) => total(v) >= 1],
      ['gateway_upstream_errors_total{job="gateway"}', (v) => total(v) >= 1],
      ['gateway_websockets_total{job="gateway"}', (v) => total(v) >= 1],
      ['gateway_auth_decisions_total{job="gateway",method="preview_token",result="allow"}', (v) => total(v) >= 5],
      ['gateway_auth_decisions_total{job="gateway",result="deny"}', (v) => total(v) >= 1],
      ['gateway_control_plane_calls_total{job="gateway",outcome="failure"}', (v) => total(v) >= 1],
      ['gateway_control_plane_calls_total{job="gateway",outcome="ok"}', (v) => total(v) >= 1],
      ['gateway_cache_lookups_total{job="gateway",result="hit"}', (v) => total(v) >= 1],
      ['gateway_bytes_total{job="gateway",direction="out"}', (v) => total(v) > 0],
      ['gateway_request_duration_seconds_count{job="gateway",kind="preview"}', (v) => total(v) >= 7],
      ['gateway_upstream_connect_seconds_count{job="gateway"}', (v) => total(v) >= 1],
      ['gateway_build_info{job="gateway"}', (v) => v.length === 1 && v[0]?.value[1] === '1' && (v[0]?.metric.version ?? '') !== ''],
    ]
    let missing: string[] = []
    await waitUntil(async () => {
      missing = []
      for (const [q, ok] of checks) {
        const v = await prom.query(q)
        if (!ok(v)) missing.push(`${q} → ${JSON.stringify(v.map((x) => [x.metric, x.value[1]])).slice(0, 200)}`)
      }
      return missing.length === 0
    }, { timeoutMs: 15_000, intervalMs: 500, message: 'all families in Prometheus' }).catch((err: Error) => {
      assert.fail(`${err.message}; still failing:\n  ${missing.join('\n  ')}`)
    })

    // Prometheus read the right metric types from the exposition.
    const types: Readonly<Record<string, string>> = {
      gateway_requests_total: 'counter',
      gateway_request_duration_seconds: 'histogram',
      gateway_upstream_connect_seconds: 'histogram',
      gateway_upstream_time_to_headers_seconds: 'histogram',
      gateway_control_plane_call_duration_seconds: 'histogram',
      gateway_control_plane_calls_total: 'counter',
      gateway_cache_lookups_total: 'counter',
      gateway_open_connections: 'gauge',
      gateway_websockets_active: 'gauge',
      gateway_cache_entries: 'gauge',
    }
    for (const [name, type] of Object.entries(types)) {
      const meta = await prom.api(`/api/v1/metadata?metric=${name}`) as Record<string, ReadonlyArray<{ type: string }>>
      assert.equal(meta[name]?.[0]?.type, type, `Prometheus metadata: ${name} is a ${type} (${JSON.stringify(meta)})`)
    }

    // Prometheus scraped without errors (the exposition parsed).
    const fails = await prom.query('scrape_samples_scraped{job="gateway"}')
    assert.ok(total(fails) > 0, 'Prometheus stored samples from the scrape')
  })
})
