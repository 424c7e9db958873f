/**
 * Operations — label hygiene (SPEC §8: "Labels never carry a sandbox id, token, host, domain or
 * path"). After a warm-up that exercises every status kind (404 INVALID_HOST, 401, 200, a cold
 * concurrent burst so that coalesced lookups exist too), ~3000 requests with random hosts,
 * random sandbox ids, random ports and paths and random tokens must not add a single gateway_*
 * series, and no label value anywhere may hold one of the random strings.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import type { OutgoingHttpHeaders } from 'node:http'
import { randomBytes, randomInt } from 'node:crypto'
import { freePort } from '../helpers/http.js'
import type { SandboxHandle } from '../helpers/stack.js'
import { DOMAIN, parseExposition, pool, scrape, startOpsStack } from './support.js'
import type { OpsStack, Sample } from './support.js'

const KEY = 'DAYTONA_SANDBOX_AUTH_KEY'
const RESERVED = new Set([22222, 2280, 33333])

type Kind = 'invalid_host' | 'unauthorized' | 'ok'
interface Job { readonly kind: Kind; readonly host: string; readonly path: string; readonly headers: OutgoingHttpHeaders }

describe('ops: metric labels stay bounded under random hosts, ids, paths and tokens', () => {
  let s: OpsStack
  let metricsPort: number
  let agent: http.Agent
  /** Every random string sent; none may show up in a label value. */
  const randoms = new Set<string>()

  const rnd = (bytes = 8): string => {
    const v = randomBytes(bytes).toString('hex')
    randoms.add(v)
    return v
  }
  const rndPort = (): number => {
    for (;;) { const p = randomInt(1, 65536); if (!RESERVED.has(p)) return p }
  }
  const rndPath = (): string => {
    const segs = Array.from({ length: randomInt(1, 4) }, () => rnd(6))
    return `/${segs.join('/')}${randomInt(2) === 0 ? `?q=${rnd(6)}&p=${rnd(5)}` : ''}`
  }

  before(async () => {
    metricsPort = await freePort()
    s = await startOpsStack({ METRICS_PORT: String(metricsPort), METRICS_BIND: '127.0.0.1', LOG_LEVEL: 'warn', OVERLOAD_LAG_MS: '0' })
    agent = new http.Agent({ keepAlive: true, maxSockets: 16 })
  }, { timeout: 20_000 })

  after(async () => {
    agent?.destroy()
    await s?.close()
  }, { timeout: 10_000 })

  /** One random request of each shape, by kind. Variants pick how the credential (if any) is sent. */
  function makeJob(kind: Kind, sbx: SandboxHandle, variant: number): Job {
    if (kind === 'invalid_host') {
      const hosts = [
        `${rnd(5)}.${rnd(5)}.example`,
        `${rndPort()}-${rnd(6)}.${rnd(4)}.other-domain.test`,
        `${rndPort()}-${rnd(6)}.${DOMAIN}.${rnd(4)}.test`,
      ]
      return { kind, host: hosts[variant % hosts.length] as string, path: rndPath(), headers: {} }
    }
    if (kind === 'unauthorized') {
      // A random label (tried as an id, then as a signed token) or the real sandbox with a wrong credential.
      const label = variant % 2 === 0 ? `sbx-${rnd(6)}` : rnd(10)
      const onReal = variant % 3 === 0
      const host = `${rndPort()}-${onReal ? sbx.id : label}.${DOMAIN}`
      const cred = variant % 5
      const headers: OutgoingHttpHeaders = { accept: 'application/json' }
      let path = rndPath()
      if (cred === 1) headers['x-daytona-preview-token'] = rnd(12)
      if (cred === 2) headers.authorization = `Bearer ${rnd(14)}`
      if (cred === 3) path += `${path.includes('?') ? '&' : '?'}${KEY}=${rnd(12)}`
      if (cred === 4) headers.cookie = `daytona-sandbox-auth-${onReal ? sbx.id : label}=${rnd(20)}`
      return { kind, host, path, headers }
    }
    const headers: OutgoingHttpHeaders = {}
    let path = rndPath()
    if (variant % 2 === 0) headers['x-daytona-preview-token'] = sbx.token
    else path += `${path.includes('?') ? '&' : '?'}${KEY}=${sbx.token}`
    return { kind, host: `${rndPort()}-${sbx.id}.${DOMAIN}`, path, headers }
  }

  const EXPECTED: Readonly<Record<Kind, number>> = { invalid_host: 404, unauthorized: 401, ok: 200 }

  function fire(job: Job): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: s.gw.port, path: job.path, headers: { host: job.host, ...job.headers }, agent })
      req.setTimeout(10_000, () => req.destroy(new Error(`request to ${job.host}${job.path} timed out`)))
      req.on('error', reject)
      req.on('response', (res) => {
        res.resume()
        res.on('end', () => resolve(res.statusCode ?? 0))
        res.on('error', reject)
      })
      req.end()
    })
  }

  async function run(jobs: readonly Job[], width: number): Promise<string[]> {
    const statuses = await pool(jobs.map((j) => () => fire(j)), width)
    const wrong: string[] = []
    statuses.forEach((st, i) => {
      const j = jobs[i] as Job
      if (st !== EXPECTED[j.kind]) wrong.push(`${j.kind}: ${st} for ${j.host}${j.path}`)
    })
    return wrong
  }

  function mixed(n: number, sbx: SandboxHandle): Job[] {
    const kinds: readonly Kind[] = ['invalid_host', 'unauthorized', 'ok']
    return Array.from({ length: n }, (_, i) => makeJob(kinds[i % 3] as Kind, sbx, randomInt(1_000_000)))
  }

  function gatewaySeries(samples: readonly Sample[]): Set<string> {
    return new Set(samples.filter((x) => x.name.startsWith('gateway_')).map((x) => x.series))
  }

  test('~3000 random requests add no gateway_* series and leak nothing into labels', { timeout: 60_000 }, async () => {
    const sbx = s.sandbox()
    const cold = s.sandbox({ prefix: 'cold' })

    // Warm-up 1: every shape, sequentially, each sent twice (so cached answers are hit, "no"s included).
    const warm: Job[] = []
    for (const kind of ['invalid_host', 'unauthorized', 'ok'] as const) {
      for (let v = 0; v < 30; v++) { const j = makeJob(kind, sbx, v); warm.push(j, j) }
    }
    let wrong = await run(warm, 1)
    assert.deepEqual(wrong, [], 'warm-up requests got the expected statuses')
    // Warm-up 2: a cold sandbox hit concurrently (coalesced lookups) and a concurrent mixed burst.
    const coldJobs = Array.from({ length: 16 }, (_, v) => makeJob('ok', cold, v))
    wrong = await run(coldJobs, 16)
    assert.deepEqual(wrong, [], 'cold concurrent burst got 200s')
    wrong = await run(mixed(300, sbx), 16)
    assert.deepEqual(wrong, [], 'warm-up burst got the expected statuses')

    const snapBefore = parseExposition(await scrape(metricsPort))
    const seriesBefore = gatewaySeries(snapBefore)
    assert.ok(seriesBefore.size > 0, 'gateway_* series exist after the warm-up')
    const reqBefore = snapBefore.filter((x) => x.name === 'gateway_requests_total').reduce((n, x) => n + x.value, 0)

    const N = 3000
    wrong = await run(mixed(N, sbx), 16)
    assert.deepEqual(wrong.slice(0, 10), [], `all ${N} requests got the expected status (${wrong.length} did not)`)

    const afterSamples = parseExposition(await scrape(metricsPort))
    const seriesAfter = gatewaySeries(afterSamples)
    const added = [...seriesAfter].filter((x) => !seriesBefore.has(x))
    const removed = [...seriesBefore].filter((x) => !seriesAfter.has(x))
    assert.deepEqual({ added, removed }, { added: [], removed: [] }, 'the set of gateway_* series is unchanged by random traffic')
    assert.equal(seriesAfter.size, seriesBefore.size, 'same number of gateway_* series')

    // The requests were counted (the counters moved, the series did not multiply).
    const reqAfter = afterSamples.filter((x) => x.name === 'gateway_requests_total').reduce((n, x) => n + x.value, 0)
    assert.ok(reqAfter - reqBefore >= N, `gateway_requests_total grew by at least ${N} (grew by ${reqAfter - reqBefore})`)

    // No label value, in any family, holds a random string, an id, a token, a host or a path.
    const values = new Set<string>()
    const gatewayValues = new Set<string>()
    for (const x of [...snapBefore, ...afterSamples]) {
      for (const v of Object.values(x.labels)) {
        values.add(v)
        if (x.name.startsWith('gateway_')) gatewayValues.add(v)
      }
    }
    const secrets = [...randoms, sbx.id, sbx.token, cold.id, cold.token, s.runnerInfo.apiKey, s.runner.url, String(s.runner.port)]
    const leaks: string[] = []
    for (const v of values) {
      for (const sec of secrets) if (v.includes(sec)) leaks.push(`${JSON.stringify(v)} holds ${sec}`)
    }
    for (const v of gatewayValues) {
      if (/preview\.test|example|other-domain|\/|\?|=/.test(v)) leaks.push(`gateway label value looks like a host/path/query: ${JSON.stringify(v)}`)
      if (v.length > 40) leaks.push(`gateway label value is suspiciously long: ${JSON.stringify(v)}`)
    }
    assert.deepEqual(leaks.slice(0, 20), [], `no label value carries request data (${leaks.length} found)`)
    // Label names are the bounded set metrics.ts declares.
    const names = new Set<string>()
    for (const x of afterSamples) if (x.name.startsWith('gateway_')) for (const k of Object.keys(x.labels)) names.add(k)
    const allowed = new Set(['kind', 'method', 'code', 'reason', 'result', 'call', 'outcome', 'cache', 'direction', 'version', 'node', 'le'])
    assert.deepEqual([...names].filter((n) => !allowed.has(n)), [], 'only bounded label names on gateway_* families')
  })
})
