/**
 * Shared pieces of the operations tests: a stack (fake control plane + fake runner + the real
 * gateway child process) whose launcher keeps stdout apart from stderr (the log tests judge
 * stdout lines only), a Prometheus text parser, a slow upstream, a tiny concurrency pool, and a
 * real Prometheus server run from the Debian package.
 *
 * Copied from test/helpers/stack.ts rather than changed there: the helpers are shared.
 */
import { spawn, spawnSync } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import http from 'node:http'
import type { OutgoingHttpHeaders } from 'node:http'
import net from 'node:net'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { FakeControlPlane } from '../fakes/control-plane.js'
import type { RunnerInfo, SandboxInit } from '../fakes/control-plane.js'
import { FakeRunner } from '../fakes/runner.js'
import { ensureAptBinary } from '../helpers/apt.js'
import { GATEWAY_ARGV, GatewayProcess, MAIN_JS, REPO_ROOT, START_TIMEOUT_MS, daytonaEnv, gatewayEnv } from '../helpers/gateway.js'
import { freePort, newId, request } from '../helpers/http.js'
import type { Reply } from '../helpers/http.js'
import { addTestSandbox, type SandboxHandle } from '../helpers/stack.js'

export const DOMAIN = 'preview.test'
export const RUNNER_KEY = 'ops-runner-secret-key-7c1d4e'

// ---- gateway + fakes ----------------------------------------------------------------------------

export interface OpsStack {
  readonly cp: FakeControlPlane
  readonly runner: FakeRunner
  readonly gw: GatewayProcess
  readonly runnerInfo: RunnerInfo
  /** stdout of the gateway only, as received since spawn. */
  stdout(): string
  stdoutLines(): string[]
  host(port: number | string, label: string): string
  sandbox(init?: SandboxInit & { readonly prefix?: string }): SandboxHandle
  send(host: string, path?: string, opts?: { method?: string; headers?: OutgoingHttpHeaders; body?: Buffer | string; timeoutMs?: number }): Promise<Reply>
  close(): Promise<void>
}

export interface OpsStackOptions {
  readonly apiKey?: string
  readonly runnerKey?: string
  readonly startTimeoutMs?: number
}

/** Like startStack(), but the gateway's stdout is captured on its own from the first byte. */
export async function startOpsStack(extraEnv: Readonly<Record<string, string>> = {}, opts: OpsStackOptions = {}): Promise<OpsStack> {
  if (!existsSync(MAIN_JS)) throw new Error(`gateway not built: ${MAIN_JS} is missing (run npm run build)`)
  const cp = await FakeControlPlane.start(opts.apiKey === undefined ? {} : { apiKey: opts.apiKey })
  const runner = await FakeRunner.start()
  const runnerInfo: RunnerInfo = { id: newId('runner'), proxyUrl: runner.url, apiUrl: runner.url, apiKey: opts.runnerKey ?? RUNNER_KEY }
  const port = await freePort()
  const env = gatewayEnv(daytonaEnv(cp.url, { ...(opts.apiKey === undefined ? {} : { PROXY_API_KEY: opts.apiKey }), ...extraEnv }), port)
  const child: ChildProcess = spawn(process.execPath, GATEWAY_ARGV, { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] })
  const out: Buffer[] = []
  child.stdout?.on('data', (c: Buffer) => out.push(c))
  const gw = new GatewayProcess(child, port, env)
  const stdout = (): string => Buffer.concat(out).toString('utf8')
  const cleanupFakes = async (): Promise<void> => { await runner.close(); await cp.close() }
  const deadline = Date.now() + (opts.startTimeoutMs ?? START_TIMEOUT_MS)
  for (;;) {
    if (gw.exitInfo !== undefined) {
      await cleanupFakes()
      throw new Error(`gateway exited during start-up (code ${gw.exitInfo.code}):\n${gw.output()}`)
    }
    try {
      const r = await request({ port, host: DOMAIN, path: '/health', timeoutMs: 1000 })
      if (r.status === 200) break
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await gw.stop(1000)
      await cleanupFakes()
      throw new Error(`gateway did not answer GET /health within the deadline:\n${gw.output()}`)
    }
    await delay(50)
  }
  return {
    cp,
    runner,
    gw,
    runnerInfo,
    stdout,
    stdoutLines: () => stdout().split('\n').filter((l) => l.length > 0),
    host: (p, label) => `${p}-${label}.${DOMAIN}`,
    sandbox: (init = {}) => addTestSandbox(cp, runnerInfo, init),
    send(h, path = '/', o = {}) {
      return request({ port: gw.port, host: h, path, method: o.method ?? 'GET', headers: o.headers ?? {}, ...(o.body === undefined ? {} : { body: o.body }), timeoutMs: o.timeoutMs ?? 15_000 })
    },
    async close() {
      await gw.stop(3000)
      await cleanupFakes()
    },
  }
}

/** A timer used only as a poll interval or an explicit pacing step, never as synchronisation. */
export function delay(ms: number): Promise<void> {
  return new Promise<void>((r) => setTimeout(r, ms))
}

// ---- Prometheus text format -----------------------------------------------------------------------

export interface Sample {
  readonly name: string
  readonly labels: Readonly<Record<string, string>>
  readonly value: number
  /** The series as printed, without the value: `name{a="b"}`. */
  readonly series: string
}

function unescapeLabel(v: string): string {
  return v.replace(/\\(["\\n])/g, (_m, c: string) => (c === 'n' ? '\n' : c))
}

/** Parses the sample lines (lines not starting with `#`) of Prometheus text exposition. */
export function parseExposition(text: string): Sample[] {
  const out: Sample[] = []
  for (const line of text.split('\n')) {
    if (line.length === 0 || line.startsWith('#')) continue
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+\S+)?$/.exec(line)
    if (m === null) throw new Error(`not a Prometheus sample line: ${JSON.stringify(line)}`)
    const labels: Record<string, string> = {}
    const body = m[3] ?? ''
    const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?\s*/gy
    let pos = 0
    while (pos < body.length) {
      re.lastIndex = pos
      const lm = re.exec(body)
      if (lm === null) throw new Error(`bad label set in ${JSON.stringify(line)}`)
      labels[lm[1] as string] = unescapeLabel(lm[2] as string)
      pos = re.lastIndex
    }
    const name = m[1] as string
    out.push({ name, labels, value: Number(m[4]), series: line.slice(0, line.length - (m[4] as string).length - (m[5] ?? '').length).trim() })
  }
  return out
}

/** GET /metrics on the metrics port. */
export async function scrape(metricsPort: number): Promise<string> {
  const r = await request({ port: metricsPort, host: `127.0.0.1:${metricsPort}`, path: '/metrics', timeoutMs: 5000 })
  if (r.status !== 200) throw new Error(`GET /metrics answered ${r.status}`)
  return r.text
}

// ---- slow upstream -----------------------------------------------------------------------------

export interface SlowUpstream {
  readonly url: string
  readonly port: number
  /** Requests received so far (raw targets). */
  readonly received: string[]
  close(): Promise<void>
}

/**
 * For `.catch()` on a later start: closes a fixture started before it, so a failed start fails the
 * test instead of leaving a listener that keeps the file from ever ending.
 */
export function closing(first: { close(): Promise<unknown> }): (err: unknown) => Promise<never> {
  return async (err) => { await first.close(); throw err }
}

/** An upstream that answers every request 200 `slow done` after `delayMs`. */
export async function startSlowUpstream(delayMs: number): Promise<SlowUpstream> {
  const received: string[] = []
  const timers = new Set<NodeJS.Timeout>()
  const server = http.createServer((req, res) => {
    received.push(req.url ?? '/')
    req.resume()
    const t = setTimeout(() => {
      timers.delete(t)
      res.writeHead(200, { 'content-type': 'text/plain' })
      res.end('slow done')
    }, delayMs)
    timers.add(t)
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  const addr = server.address()
  if (addr === null || typeof addr === 'string') throw new Error('slow upstream has no port')
  return {
    url: `http://127.0.0.1:${addr.port}`,
    port: addr.port,
    received,
    async close() {
      for (const t of timers) clearTimeout(t)
      server.closeAllConnections()
      await new Promise<void>((r) => server.close(() => r()))
    },
  }
}

/** Resolves true when a TCP connect to 127.0.0.1:port is refused, false when it is accepted. */
export function connectRefused(port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port })
    const timer = setTimeout(() => { s.destroy(); resolve(false) }, timeoutMs)
    s.once('connect', () => { clearTimeout(timer); s.destroy(); resolve(false) })
    s.once('error', (err: NodeJS.ErrnoException) => { clearTimeout(timer); resolve(err.code === 'ECONNREFUSED') })
  })
}

// ---- concurrency -------------------------------------------------------------------------------

/** Runs `jobs` with at most `width` in flight; results in job order. */
export async function pool<T>(jobs: ReadonlyArray<() => Promise<T>>, width: number): Promise<T[]> {
  const results: T[] = new Array<T>(jobs.length)
  let next = 0
  const worker = async (): Promise<void> => {
    for (;;) {
      const i = next++
      if (i >= jobs.length) return
      results[i] = await (jobs[i] as () => Promise<T>)()
    }
  }
  await Promise.all(Array.from({ length: Math.min(width, jobs.length) }, () => worker()))
  return results
}

// ---- Prometheus server ---------------------------------------------------------------------------

const PROMETHEUS_CANDIDATES = ['/usr/bin/prometheus', '/usr/local/bin/prometheus']

/** Path of a `prometheus` binary (Debian's package is installed when none is), or undefined. */
export function findPrometheus(): string | undefined {
  for (const p of PROMETHEUS_CANDIDATES) if (existsSync(p)) return p
  const r = spawnSync('sh', ['-c', 'command -v prometheus'], { encoding: 'utf8' })
  const p = r.stdout.trim()
  if (r.status === 0 && p !== '') return p
  const missing = ensureAptBinary('prometheus', PROMETHEUS_CANDIDATES[0]!)
  if (missing === null) return PROMETHEUS_CANDIDATES[0]
  process.stderr.write(`[ops tests] prometheus: ${missing}\n`)
  return undefined
}

export interface PrometheusServer {
  readonly port: number
  readonly child: ChildProcess
  output(): string
  /** GET /api/v1/query; resolves with the `data.result` vector. */
  query(promql: string): Promise<PromVectorSample[]>
  /** GET any path of the HTTP API; resolves with the `data` member of a successful answer. */
  api(path: string): Promise<unknown>
  stop(): Promise<void>
}

export interface PromVectorSample {
  readonly metric: Readonly<Record<string, string>>
  readonly value: readonly [number, string]
}

interface PromQueryReply {
  readonly status: string
  readonly data?: { readonly resultType: string; readonly result: PromVectorSample[] }
  readonly error?: string
}

/** Starts our own Prometheus (temp config and TSDB, loopback port) scraping `targets` every 1 s. */
export async function startPrometheus(binary: string, job: string, targets: readonly string[], startTimeoutMs = 20_000): Promise<PrometheusServer> {
  const dir = mkdtempSync(join(tmpdir(), 'gw-ops-prom-'))
  const port = await freePort()
  const config = [
    'global:',
    '  scrape_interval: 1s',
    '  scrape_timeout: 1s',
    '  evaluation_interval: 1s',
    'scrape_configs:',
    `  - job_name: ${job}`,
    '    metrics_path: /metrics',
    '    static_configs:',
    `      - targets: [${targets.map((t) => `'${t}'`).join(', ')}]`,
    '',
  ].join('\n')
  const configFile = join(dir, 'prometheus.yml')
  writeFileSync(configFile, config)
  const child = spawn(binary, [
    `--config.file=${configFile}`,
    `--storage.tsdb.path=${join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`,
    '--storage.tsdb.retention.time=1h',
    `--web.console.templates=${join(dir, 'consoles')}`,
    `--web.console.libraries=${join(dir, 'console_libraries')}`,
  ], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] })
  const out: Buffer[] = []
  child.stdout?.on('data', (c: Buffer) => out.push(c))
  child.stderr?.on('data', (c: Buffer) => out.push(c))
  let exited = false
  const exitedP = new Promise<void>((resolve) => child.once('exit', () => { exited = true; resolve() }))
  const output = (): string => Buffer.concat(out).toString('utf8')
  const stop = async (): Promise<void> => {
    if (!exited) {
      child.kill('SIGTERM')
      const t = setTimeout(() => { if (!exited) child.kill('SIGKILL') }, 5000)
      await exitedP
      clearTimeout(t)
    }
    rmSync(dir, { recursive: true, force: true })
  }
  const get = async (path: string): Promise<Reply> => request({ port, host: `127.0.0.1:${port}`, path, timeoutMs: 5000 })
  const deadline = Date.now() + startTimeoutMs
  for (;;) {
    if (exited) { const o = output(); await stop(); throw new Error(`prometheus exited during start-up:\n${o}`) }
    try {
      const r = await get('/-/ready')
      if (r.status === 200) break
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) { const o = output(); await stop(); throw new Error(`prometheus not ready within ${startTimeoutMs} ms:\n${o}`) }
    await delay(100)
  }
  return {
    port,
    child,
    output,
    async query(promql: string): Promise<PromVectorSample[]> {
      const r = await get(`/api/v1/query?query=${encodeURIComponent(promql)}`)
      const body = r.json() as PromQueryReply
      if (r.status !== 200 || body.status !== 'success' || body.data === undefined) {
        throw new Error(`prometheus query ${promql} failed (${r.status}): ${r.text.slice(0, 300)}`)
      }
      return body.data.result
    },
    async api(path: string): Promise<unknown> {
      const r = await get(path)
      const body = r.json() as { status?: string; data?: unknown }
      if (r.status !== 200 || body.status !== 'success') throw new Error(`prometheus ${path} failed (${r.status}): ${r.text.slice(0, 300)}`)
      return body.data
    },
    stop,
  }
}
