/**
 * No hangs (issue 8): while load runs through keep-alive connections, a runner that resets
 * connections at random (before, while and after headers, mid-body), half-closes, stalls, closes
 * after answering, or refuses connects altogether. Every request must get an answer or a clean
 * close within its budget (upstream header timeout + connect retries), and the gateway keeps
 * serving afterwards.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import { FaultRunner } from '../fakes/fault-runner.js'
import { startStack } from '../helpers/stack.js'
import type { SandboxHandle, Stack } from '../helpers/stack.js'
import { newId } from '../helpers/http.js'

const UPSTREAM_TIMEOUT_SEC = 2
/** Header timeout + connect retries (0.5 s) + a control-plane runner lookup, with room for a loaded CI box. */
const BUDGET_MS = 9_000

interface Outcome {
  readonly kind: 'answered' | 'closed' | 'hung'
  readonly status?: number
  readonly ms: number
  readonly what?: string
}

/** One request on a keep-alive agent; never waits past the budget (a hang is recorded, not awaited). */
function send(agent: http.Agent, port: number, host: string, method: string, path: string, body?: Buffer): Promise<Outcome> {
  const t0 = performance.now()
  return new Promise<Outcome>((resolve) => {
    let done = false
    const finish = (o: Omit<Outcome, 'ms'>): void => {
      if (done) return
      done = true
      clearTimeout(timer)
      resolve({ ...o, ms: performance.now() - t0 })
    }
    const req = http.request({ agent, host: '127.0.0.1', port, method, path, headers: { host, ...(body === undefined ? {} : { 'content-length': body.length }) } }, (res) => {
      res.on('data', () => undefined)
      res.on('end', () => finish({ kind: 'answered', status: res.statusCode ?? 0 }))
      res.on('error', () => finish({ kind: 'closed', status: res.statusCode ?? 0 }))
      res.on('aborted', () => finish({ kind: 'closed', status: res.statusCode ?? 0 }))
    })
    const timer = setTimeout(() => { finish({ kind: 'hung', what: `${method} ${path} socket=${req.socket !== null && req.socket !== undefined} reused=${req.reusedSocket} written=${req.socket?.bytesWritten} read=${req.socket?.bytesRead} finished=${req.writableFinished}` }); req.destroy() }, BUDGET_MS)
    req.on('error', () => finish({ kind: 'closed' }))
    req.end(body)
  })
}

/** Runs `total` requests with `concurrency` workers; returns every outcome. */
async function load(total: number, concurrency: number, one: (i: number) => Promise<Outcome>): Promise<Outcome[]> {
  const out: Outcome[] = []
  let next = 0
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < total) out.push(await one(next++))
  }))
  return out
}

function summary(outcomes: readonly Outcome[]): string {
  const by = new Map<string, number>()
  for (const o of outcomes) by.set(`${o.kind}${o.status === undefined ? '' : ` ${o.status}`}`, (by.get(`${o.kind}${o.status === undefined ? '' : ` ${o.status}`}`) ?? 0) + 1)
  return [...by].map(([k, n]) => `${k}: ${n}`).join(', ')
}

describe('runner faults under keep-alive load: every request answered or cleanly closed in its budget', { timeout: 240_000 }, () => {
  let s: Stack
  let runner: FaultRunner
  let sbx: SandboxHandle
  let good: SandboxHandle
  const agent = new http.Agent({ keepAlive: true, maxSockets: 32 })

  before(async () => {
    runner = await FaultRunner.start({ faultRate: 0.3, seed: 42 })
    s = await startStack({ UPSTREAM_TIMEOUT_SEC: String(UPSTREAM_TIMEOUT_SEC), LOG_LEVEL: 'warn' })
    sbx = s.sandbox({ public: true, runner: { id: newId('fault-runner'), proxyUrl: runner.url, apiUrl: runner.url, apiKey: 'fault-key' } })
    good = s.sandbox({ public: true })
  })
  after(async () => {
    agent.destroy()
    await s?.close()
    await runner?.close()
  })

  test('GET, HEAD and POST through a runner resetting, half-closing and stalling at random: no hang', { timeout: 200_000 }, async () => {
    const host = s.host(3000, sbx.id)
    const body = Buffer.alloc(2048, 7)
    const outcomes = await load(500, 24, (i) => {
      const m = i % 6
      if (m === 4) return send(agent, s.gw.port, host, 'POST', `/upload/${i}`, body)
      if (m === 5) return send(agent, s.gw.port, host, 'HEAD', `/head/${i}`)
      return send(agent, s.gw.port, host, 'GET', `/get/${i}?n=${i}`)
    })
    const hung = outcomes.filter((o) => o.kind === 'hung')
    assert.equal(hung.length, 0, `requests without answer or close within ${BUDGET_MS} ms: ${hung.length} (${summary(outcomes)}; runner faults ${JSON.stringify([...runner.counts])})`)
    // The faults really happened, and most requests were still answered.
    assert.ok((runner.counts.get('stall') ?? 0) > 0 && (runner.counts.get('reset-mid-body') ?? 0) > 0, JSON.stringify([...runner.counts]))
    assert.ok(outcomes.filter((o) => o.kind === 'answered' && o.status === 200).length > 200, summary(outcomes))
    // Stalls become 504 within the header timeout (twice, when a reset was replayed first), never more.
    for (const o of outcomes) if (o.status === 504) assert.ok(o.ms < (2 * UPSTREAM_TIMEOUT_SEC + 3) * 1000, `504 after ${o.ms} ms`)
  })

  test('every runner connection reset at once, repeatedly, under load (large and small bodies): no hang', { timeout: 200_000 }, async () => {
    const host = s.host(3000, sbx.id)
    runner.faultRate = 0.05
    const big = Buffer.alloc(256 * 1024, 3)
    let resets = 0
    const outcomes = await load(600, 32, async (i) => {
      if (i % 40 === 0) resets += runner.resetAll()
      const m = i % 4
      if (m === 0) return send(agent, s.gw.port, host, 'POST', `/big/${i}`, big)
      if (m === 1) return send(agent, s.gw.port, host, 'PUT', `/put/${i}`, Buffer.from('x'))
      return send(agent, s.gw.port, host, 'GET', `/g/${i}`)
    })
    const hung = outcomes.filter((o) => o.kind === 'hung')
    assert.equal(hung.length, 0, `hung: ${hung.length} (${summary(outcomes)}; ${resets} connections reset): ${hung.map((o) => o.what).join(', ')}`)
  })

  test('runner refusing connects mid-load, then back: no hang, then served again', { timeout: 120_000 }, async () => {
    const host = s.host(3000, sbx.id)
    runner.faultRate = 0.1
    let refused = false
    const outcomes = await load(240, 16, async (i) => {
      if (i === 60) { refused = true; await runner.refuse() }
      if (i === 160 && refused) { refused = false; await runner.accept() }
      return send(agent, s.gw.port, host, i % 3 === 0 ? 'POST' : 'GET', `/r/${i}`, i % 3 === 0 ? Buffer.from('abc') : undefined)
    })
    const hung = outcomes.filter((o) => o.kind === 'hung')
    assert.equal(hung.length, 0, `hung: ${hung.length} (${summary(outcomes)})`)
    assert.ok(outcomes.some((o) => o.status === 502), `refused connects answered 502: ${summary(outcomes)}`)
    runner.faultRate = 0
    const after = await send(agent, s.gw.port, host, 'GET', '/after')
    assert.equal(after.status, 200, summary([after]))
  })

  test('the gateway keeps serving a healthy sandbox and its own routes', { timeout: 20_000 }, async () => {
    const r = await send(agent, s.gw.port, s.host(3000, good.id), 'GET', '/echo')
    assert.equal(r.status, 200)
    const h = await send(agent, s.gw.port, 'preview.test', 'GET', '/health')
    assert.equal(h.status, 200)
  })
})
