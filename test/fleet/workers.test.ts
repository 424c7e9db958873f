/**
 * SPEC §9 "Cores" — WORKERS=2 (src/cluster/): the gateway started the way `npm start` runs it
 * forks two workers sharing PROXY_PORT. Both serve (their access-log lines carry different pids),
 * METRICS_PORT answers once for the pod with the workers' counters summed, a webhook received by
 * one worker invalidates the other too and a duplicate id is refused pod-wide, a worker killed with
 * SIGKILL is restarted (one log line) and serves, and SIGTERM to the primary drains every worker in
 * SPEC §8's order (readiness 503, in-flight request completes) with exit code 0.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { freePort, settlesWithin, waitUntil, withTimeout } from '../helpers/http.js'
import type { Reply } from '../helpers/http.js'
import { closing, connectRefused, DOMAIN, parseExposition, scrape, startOpsStack, startSlowUpstream, type OpsStack } from '../ops/support.js'
import type { SandboxHandle } from '../helpers/stack.js'
import { deliver, newWebhookSecret, sign, stateUpdated } from './webhook-signer.js'

const SECRET = newWebhookSecret()

interface LogLine { readonly msg?: string; readonly pid?: number; readonly worker?: number; readonly kind?: string; readonly status?: number }

function logLines(s: OpsStack): LogLine[] {
  const out: LogLine[] = []
  for (const l of s.stdoutLines()) {
    try { out.push(JSON.parse(l) as LogLine) } catch { /* not JSON: ignored */ }
  }
  return out
}

/** Pids of the workers that announced `preview gateway listening`. */
function listeningPids(s: OpsStack): number[] {
  return logLines(s).filter((l) => l.msg === 'preview gateway listening' && typeof l.pid === 'number').map((l) => l.pid as number)
}

async function startWorkers(extra: Record<string, string> = {}): Promise<OpsStack> {
  const s = await startOpsStack({ WORKERS: '2', ...extra }, { startTimeoutMs: 30_000 })
  await waitUntil(() => logLines(s).some((l) => l.msg === 'preview gateway workers listening') && new Set(listeningPids(s)).size >= 2, { timeoutMs: 20_000, message: 'both workers listening' })
  return s
}

/** `n` requests, each on a fresh connection (the primary deals connections round-robin). */
async function sendFresh(s: OpsStack, sbx: SandboxHandle, n: number, headers: Record<string, string> = {}): Promise<number[]> {
  const statuses: number[] = []
  for (let i = 0; i < n; i++) statuses.push((await s.send(s.host(3000, sbx.id), `/w${i}`, { headers })).status)
  return statuses
}

describe('WORKERS=2', { timeout: 120_000 }, () => {
  let s: OpsStack
  let metricsPort: number

  before(async () => {
    metricsPort = await freePort()
    s = await startWorkers({ METRICS_PORT: String(metricsPort), METRICS_BIND: '127.0.0.1', WEBHOOK_SECRET: SECRET })
  })
  after(async () => { await s?.close() })

  test('both workers serve, and /metrics answers once for the pod with their counters summed', { timeout: 40_000 }, async () => {
    assert.equal(new Set(listeningPids(s)).size, 2, 'two worker processes announced themselves')
    assert.ok(!listeningPids(s).includes(s.gw.pid), 'the primary does not serve')
    const sbx = s.sandbox()
    const N = 30
    const before = logLines(s).length
    const statuses = await sendFresh(s, sbx, N, { 'x-daytona-preview-token': sbx.token })
    assert.deepEqual(statuses, Array(N).fill(200), 'every request answered')
    const pids = new Set(logLines(s).slice(before).filter((l) => l.msg === 'access' && l.kind === 'preview').map((l) => l.pid))
    assert.equal(pids.size, 2, `requests were served by both workers (pids seen: ${[...pids].join(', ')})`)

    const samples = parseExposition(await scrape(metricsPort))
    const preview = samples.filter((x) => x.name === 'gateway_requests_total' && x.labels.kind === 'preview').reduce((a, x) => a + x.value, 0)
    assert.equal(preview, N, 'the pod-wide request counter is the sum over both workers')
    assert.equal(samples.find((x) => x.name === 'gateway_build_info')?.value, 1, 'build info is not summed')
    assert.equal(samples.find((x) => x.name === 'gateway_workers')?.value, 2)
    const names = samples.map((x) => x.series)
    assert.equal(new Set(names).size, names.length, 'each series appears once (one aggregated exposition, not one per worker)')
  })

  test('a webhook received by one worker invalidates the other; a duplicate id is refused pod-wide', { timeout: 40_000 }, async () => {
    const sbx = s.sandbox({ public: true })
    const calls = (): number => s.cp.calls(`/preview/${sbx.id}/public`).length
    // Warm both workers' caches (each worker has its own in-memory tier).
    await waitUntil(async () => (await sendFresh(s, sbx, 2)).every((x) => x === 200) && calls() >= 2, { timeoutMs: 10_000, message: 'both workers cached the public flag' })
    const warmCalls = calls()
    sbx.state.public = false
    assert.deepEqual(await sendFresh(s, sbx, 4), [200, 200, 200, 200], 'precondition: both workers serve the cached public flag')
    assert.equal(calls(), warmCalls)

    const d = sign(SECRET, stateUpdated(sbx.id))
    assert.equal((await deliver(s.gw.port, DOMAIN, d)).status, 204)
    // SPEC §9: within 1 s on every worker (the relay through the primary is asynchronous).
    await settlesWithin(Date.now(), 1000, () => sendFresh(s, sbx, 2), (got) => got.every((x) => x === 401), (got, ms) => `a worker still served the stale public flag to probes sent ${ms} ms after the event (${got.join(', ')})`)
    assert.deepEqual(await sendFresh(s, sbx, 6), Array(6).fill(401), 'neither worker serves the stale public flag after the event')


    // Idempotency across the pod: a delivery applied once, then retried (reaching both workers).
    const other = s.sandbox({ public: true })
    const otherCalls = (): number => s.cp.calls(`/preview/${other.id}/public`).length
    await waitUntil(async () => (await sendFresh(s, other, 2)).every((x) => x === 200) && otherCalls() >= 2, { timeoutMs: 10_000, message: 'both workers cached the second sandbox' })
    const d2 = sign(SECRET, stateUpdated(other.id))
    assert.equal((await deliver(s.gw.port, DOMAIN, d2)).status, 204)
    const afterFirst = otherCalls()
    await waitUntil(async () => (await sendFresh(s, other, 2)).every((x) => x === 200) && otherCalls() >= afterFirst + 2, { timeoutMs: 10_000, message: 'both workers looked the flag up again after the first delivery' })
    const recached = otherCalls()
    other.state.public = false
    for (let i = 0; i < 2; i++) assert.equal((await deliver(s.gw.port, DOMAIN, d2)).status, 204, 'a retried delivery is acknowledged')
    assert.deepEqual(await sendFresh(s, other, 4), [200, 200, 200, 200], 'the duplicate id invalidated nothing on either worker')
    assert.equal(otherCalls(), recached)
  })

  test('a worker killed with SIGKILL is restarted, logged once, and serves', { timeout: 40_000 }, async () => {
    const pids = listeningPids(s)
    const victim = pids[pids.length - 1] as number
    process.kill(victim, 'SIGKILL')
    const restart = await waitUntil(() => logLines(s).find((l) => l.msg === 'worker exited; restarting it'), { timeoutMs: 10_000, message: 'restart logged' })
    assert.ok(restart !== undefined)
    assert.equal(logLines(s).filter((l) => l.msg === 'worker exited; restarting it').length, 1, 'one log line for one crash')
    // Scrapes while the replacement starts are answered (not stalled on a worker that cannot answer yet).
    const scrapeProblems: string[] = []
    let scrapes = 0
    const fresh = await waitUntil(async () => {
      const t0 = Date.now()
      await scrape(metricsPort).catch((err: Error) => { scrapeProblems.push(err.message) })
      if (Date.now() - t0 > 3000) scrapeProblems.push(`a scrape took ${Date.now() - t0} ms`)
      scrapes++
      return listeningPids(s).find((p) => !pids.includes(p))
    }, { timeoutMs: 15_000, intervalMs: 20, message: 'a new worker listening' })
    assert.ok(scrapes >= 1)
    assert.deepEqual(scrapeProblems, [], 'every scrape during the restart answered 200 promptly')
    const sbx = s.sandbox()
    const before = logLines(s).length
    assert.deepEqual(await sendFresh(s, sbx, 10, { 'x-daytona-preview-token': sbx.token }), Array(10).fill(200), 'no request failed after the restart')
    const served = new Set(logLines(s).slice(before).filter((l) => l.msg === 'access').map((l) => l.pid))
    assert.ok(served.has(fresh), 'the restarted worker serves')
    assert.ok(!served.has(victim), 'the killed worker is gone')
    const samples = parseExposition(await scrape(metricsPort))
    assert.equal(samples.find((x) => x.name === 'gateway_worker_restarts_total')?.value, 1)
  })
})

describe('WORKERS=2 drain', { timeout: 60_000 }, () => {
  test('SIGTERM to the primary: readiness 503 at once, in-flight request completes, connections refused, exit 0', { timeout: 50_000 }, async () => {
    const SLOW_MS = 1500
    const DELAY_SEC = 3
    const slow = await startSlowUpstream(SLOW_MS)
    const s = await startWorkers({ SHUTDOWN_DELAY_SEC: String(DELAY_SEC), SHUTDOWN_TIMEOUT_SEC: '5' }).catch(closing(slow))
    try {
      const sbx = s.sandbox({ prefix: 'slow', runner: { id: 'runner-slow', proxyUrl: slow.url, apiUrl: slow.url, apiKey: 'slow-runner-key' } })
      const inflight: Promise<Reply> = s.send(s.host(3000, sbx.id), '/slow', { headers: { 'x-daytona-preview-token': sbx.token }, timeoutMs: 20_000 })
      inflight.catch(() => { /* asserted below */ })
      await waitUntil(() => slow.received.length >= 1, { timeoutMs: 10_000, message: 'the slow upstream has the request' })
      const t0 = Date.now()
      s.gw.child.kill('SIGTERM')
      await waitUntil(async () => (await s.send(DOMAIN, '/ready', { timeoutMs: 1000 })).status === 503, { timeoutMs: (DELAY_SEC * 1000) / 2, intervalMs: 20, message: '/ready 503 right after SIGTERM' })
      assert.ok(Date.now() - t0 < DELAY_SEC * 1000, 'readiness false inside the pre-stop delay')
      const r = await withTimeout(inflight, SLOW_MS + 5000, 'in-flight request')
      assert.equal(r.status, 200)
      assert.equal(r.text, 'slow done')
      const exit = await withTimeout(s.gw.exited, 15_000, 'primary exit')
      assert.deepEqual(exit, { code: 0, signal: null }, `exit 0 after the drain:\n${s.gw.output().slice(-2000)}`)
      assert.ok(await connectRefused(s.gw.port), 'nothing listens after the exit')
      const drained = logLines(s).filter((l) => l.msg === 'drained, exiting').map((l) => l.pid)
      assert.equal(new Set(drained).size, 2, 'both workers drained')
    } finally {
      await s.close()
      await slow.close()
    }
  })
})
