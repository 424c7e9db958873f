/**
 * Runs the real gateway (`node <npm start's node flags> dist/src/main.js`) as a child process for e2e
 * tests: picks a free PROXY_PORT, waits for `GET /health` on the base domain, captures stdout+stderr
 * (so tests can assert that no line holds a secret), and stops it with SIGTERM, then SIGKILL after a
 * deadline.
 */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { freePort, request } from './http.js'

export { RawConnection, rawExchange } from './raw-http.js'
export type { RawResponse } from './raw-http.js'

/** Repository root, from dist/test/helpers/gateway.js (three levels up). */
export const REPO_ROOT: string = fileURLToPath(new URL('../../../', import.meta.url))
export const MAIN_JS: string = join(REPO_ROOT, 'dist', 'src', 'main.js')

/**
 * Node flags of `npm start` (package.json: `… exec node <flags> dist/src/main.js`): tests run the
 * gateway the way it ships, since e.g. the small young generation bounds RSS while streaming.
 */
function startNodeFlags(): string[] {
  const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { scripts?: { start?: unknown } }
  const start = typeof pkg.scripts?.start === 'string' ? pkg.scripts.start : ''
  const m = /\bnode((?:\s+--[\w-]+(?:=\S+)?)*)\s+dist\/src\/main\.js\b/.exec(start)
  if (m === null) throw new Error(`package.json scripts.start does not run \`node [flags] dist/src/main.js\`: ${start}`)
  return m[1]!.split(/\s+/).filter((f) => f !== '')
}
/** Arguments after the node binary: `npm start`'s node flags, then dist/src/main.js. */
export const GATEWAY_ARGV: readonly string[] = [...startNodeFlags(), MAIN_JS]

let emptyConfigFile: string | undefined
/**
 * A `{}` config file, so that a developer's own `config/gateway.json` never leaks into a test run.
 * Tests that exercise CONFIG_FILE pass their own.
 */
export function emptyConfigPath(): string {
  if (emptyConfigFile === undefined) {
    const dir = mkdtempSync(join(tmpdir(), 'gw-e2e-'))
    emptyConfigFile = join(dir, 'empty-config.json')
    writeFileSync(emptyConfigFile, '{}\n')
  }
  return emptyConfigFile
}

/** A private temp directory for registry files and the like. */
export function tempDir(prefix = 'gw-e2e-'): string {
  return mkdtempSync(join(tmpdir(), prefix))
}

function baseEnv(): Record<string, string> {
  const env: Record<string, string> = {}
  for (const k of ['PATH', 'HOME', 'TMPDIR', 'LANG', 'TZ']) {
    const v = process.env[k]
    if (v !== undefined) env[k] = v
  }
  return env
}

export interface GatewayOptions {
  /** Environment for the gateway (PROXY_PORT is filled in unless given). */
  readonly env: Readonly<Record<string, string>>
  /** Host for the readiness probe (default: first PROXY_DOMAIN, or `localhost`). */
  readonly healthHost?: string
  readonly startTimeoutMs?: number
}

export interface ExitInfo {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
}

export class GatewayProcess {
  readonly child: ChildProcess
  readonly port: number
  readonly env: Readonly<Record<string, string>>
  readonly exited: Promise<ExitInfo>
  #exit: ExitInfo | undefined
  readonly #out: Buffer[] = []

  constructor(child: ChildProcess, port: number, env: Readonly<Record<string, string>>) {
    this.child = child
    this.port = port
    this.env = env
    const echo = process.env.GATEWAY_LOG_ECHO === '1'
    child.stdout?.on('data', (c: Buffer) => { this.#out.push(c); if (echo) process.stderr.write(c) })
    child.stderr?.on('data', (c: Buffer) => { this.#out.push(c); if (echo) process.stderr.write(c) })
    this.exited = new Promise<ExitInfo>((resolve) => {
      child.once('exit', (code, signal) => { this.#exit = { code, signal }; resolve(this.#exit) })
    })
  }

  get pid(): number {
    if (this.child.pid === undefined) throw new Error('gateway has no pid')
    return this.child.pid
  }

  get exitInfo(): ExitInfo | undefined { return this.#exit }

  /** stdout and stderr interleaved as received. */
  output(): string { return Buffer.concat(this.#out).toString('utf8') }

  lines(): string[] { return this.output().split('\n').filter((l) => l.length > 0) }

  /** Resident set size of the gateway process in bytes (Linux /proc). */
  rssBytes(): number {
    const status = readFileSync(`/proc/${this.pid}/status`, 'utf8')
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status)
    if (m === null) throw new Error('VmRSS not found')
    return Number(m[1]) * 1024
  }

  /** SIGTERM, then SIGKILL when it has not exited after `graceMs`. */
  async stop(graceMs = 5000): Promise<ExitInfo> {
    if (this.#exit !== undefined) return this.#exit
    this.child.kill('SIGTERM')
    const timer = setTimeout(() => { if (this.#exit === undefined) this.child.kill('SIGKILL') }, graceMs)
    const info = await this.exited
    clearTimeout(timer)
    return info
  }
}

function assertBuilt(): void {
  if (!existsSync(MAIN_JS)) throw new Error(`gateway not built: ${MAIN_JS} is missing (run npm run build)`)
}

function spawnGateway(env: Record<string, string>): ChildProcess {
  assertBuilt()
  return spawn(process.execPath, GATEWAY_ARGV, { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] })
}

/** How long a test gateway gets to answer /health: SPEC §8 allows 90 s; a loaded CI machine takes seconds just to load the modules. */
export const START_TIMEOUT_MS = 45_000

/** Full environment: a clean base, test defaults, then the caller's values. */
export function gatewayEnv(env: Readonly<Record<string, string>>, port: number): Record<string, string> {
  return {
    ...baseEnv(),
    PROXY_BIND: '127.0.0.1',
    CONFIG_FILE: emptyConfigPath(),
    SHUTDOWN_TIMEOUT_SEC: '1',
    // A loaded CI machine can lag the event loop past the 500 ms default: the tests that check
    // overload shedding set it themselves; everywhere else a slow machine must not answer 503.
    OVERLOAD_LAG_MS: '0',
    PROXY_PORT: String(port),
    ...env,
  }
}

/** Starts the gateway and resolves once `/health` answers 200 on the base domain. */
export async function startGateway(opts: GatewayOptions): Promise<GatewayProcess> {
  const port = opts.env.PROXY_PORT !== undefined ? Number(opts.env.PROXY_PORT) : await freePort()
  const env = gatewayEnv(opts.env, port)
  const child = spawnGateway(env)
  const gw = new GatewayProcess(child, port, env)
  const healthHost = opts.healthHost ?? (env.PROXY_DOMAIN !== undefined ? (env.PROXY_DOMAIN.split(',')[0] ?? '').trim() : 'localhost')
  const deadline = Date.now() + (opts.startTimeoutMs ?? START_TIMEOUT_MS)
  for (;;) {
    if (gw.exitInfo !== undefined) {
      throw new Error(`gateway exited during start-up (code ${gw.exitInfo.code}, signal ${gw.exitInfo.signal}):\n${gw.output()}`)
    }
    try {
      const r = await request({ port, host: healthHost, path: '/health', timeoutMs: 1000 })
      if (r.status === 200) return gw
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await gw.stop(1000)
      throw new Error(`gateway did not answer GET /health (Host: ${healthHost}) within ${opts.startTimeoutMs ?? 15_000} ms:\n${gw.output()}`)
    }
    await new Promise<void>((r) => setTimeout(r, 50))
  }
}

export interface RunResult extends ExitInfo {
  readonly output: string
  /** True when the process was still running at the deadline (and was killed). */
  readonly timedOut: boolean
}

/** Runs the gateway expecting it to exit on its own (configuration errors). */
export async function runGatewayToExit(env: Readonly<Record<string, string>>, timeoutMs = 10_000): Promise<RunResult> {
  const port = env.PROXY_PORT !== undefined && /^\d+$/.test(env.PROXY_PORT) ? Number(env.PROXY_PORT) : await freePort()
  // The caller's values win, so a bad PROXY_PORT given by the test is what the gateway sees.
  const full = gatewayEnv(env, port)
  const child = spawnGateway(full)
  const gw = new GatewayProcess(child, port, full)
  let timedOut = false
  const timer = setTimeout(() => { timedOut = true; child.kill('SIGKILL') }, timeoutMs)
  const info = await gw.exited
  clearTimeout(timer)
  return { ...info, output: gw.output(), timedOut }
}

/** Environment for Daytona mode against a fake control plane. */
export function daytonaEnv(apiUrl: string, extra: Readonly<Record<string, string>> = {}): Record<string, string> {
  return {
    DAYTONA_API_URL: apiUrl,
    PROXY_API_KEY: 'test-api-key',
    PROXY_DOMAIN: 'preview.test',
    LOG_LEVEL: 'info',
    ...extra,
  }
}
