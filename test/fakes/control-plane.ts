/**
 * A fake Daytona API speaking the SPEC §2 endpoints on 127.0.0.1:0. It holds sandboxes, signed
 * preview tokens and runners as plain state, answers from a per-path script first (status+body,
 * hang, reset, delay), and keeps a call log so tests can count calls ("200 concurrent misses → 1
 * call", "a failure is tried exactly 3 times").
 *
 * Paths (SPEC §2): GET /preview/{id}/public, GET /preview/{id}/validate/{token},
 * GET /preview/{id}/access (user's bearer), GET /preview/{signedToken}/{port}/sandbox-id,
 * GET /runners/by-sandbox/{id}, POST /sandbox/{id}/last-activity, GET /config,
 * GET /sandbox/{id} and GET /snapshots/{id} (user's bearer), GET /runners/{runnerId}/full.
 * SPEC §10 signed file URLs: GET /preview/{id}/signing-key (API key); for the SDK (user's bearer):
 * GET /sandbox/{id}/signing-key, POST /sandbox/{id}/signing-key/rotate, GET /sandbox/{id}/toolbox-proxy-url.
 * SPEC §10: GET /preview/{idOrToken}/preview-warning[?port=], GET /sandbox/{id} with the API key
 * (its state), POST /sandbox/{id}/start (starting, then started after `startDelayMs`).
 */
import http from 'node:http'
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import { EventEmitter } from 'node:events'
import { randomBytes } from 'node:crypto'

export const DEFAULT_API_KEY = 'test-api-key'

/** The part of `RunnerFull` the gateway needs (plus a few realistic extras). */
export interface RunnerInfo {
  readonly id: string
  readonly proxyUrl: string
  readonly apiUrl: string
  readonly apiKey: string
}

export interface FakeSandbox {
  readonly id: string
  public: boolean
  readonly previewTokens: Set<string>
  /** Users' bearer tokens allowed by `/preview/{id}/access` (and `/sandbox/{id}`). */
  readonly bearers: Set<string>
  runner: RunnerInfo | null
  buildInfo: { snapshotRef: string } | null
  /** SPEC §10: the key signed file URLs are signed with (rotated by rotateSigningKey). */
  signingKey: string
  /** Daytona `SandboxState` (SPEC §10); `started` unless told. */
  state: string
  /** Answer of `/preview/{id}/preview-warning` (SPEC §10). */
  previewWarning: boolean
  /** How long a start takes: `starting`, then `started` with `runnerWhenStarted`. */
  startDelayMs: number
  /** The runner a start puts the sandbox on (stopSandbox keeps the old one here). */
  runnerWhenStarted: RunnerInfo | null
}

export interface SandboxInit {
  readonly public?: boolean
  readonly previewTokens?: readonly string[]
  readonly bearers?: readonly string[]
  readonly runner?: RunnerInfo | null
  readonly buildInfo?: { snapshotRef: string } | null
  readonly state?: string
  readonly previewWarning?: boolean
}

export interface SignedTokenInfo {
  sandboxId: string
  port: number
  expired: boolean
  revoked: boolean
}

/** One scripted answer. With neither status, hang nor reset, the state answers after `delayMs`. */
export interface ScriptedAnswer {
  readonly status?: number
  /** JSON-encoded into the body. */
  readonly body?: unknown
  /** Sent as is (wins over `body`). */
  readonly rawBody?: string
  readonly headers?: Readonly<Record<string, string>>
  /** Never answer (until the caller gives up or the fake is reset). */
  readonly hang?: boolean
  /** Destroy the connection without an answer. */
  readonly reset?: boolean
  readonly delayMs?: number
}

export type CallOutcome = 'pending' | 'answered' | 'reset' | 'aborted'

export interface CallRecord {
  readonly seq: number
  readonly method: string
  /** Raw path, without the query. */
  readonly path: string
  /** Raw request target. */
  readonly url: string
  readonly headers: IncomingHttpHeaders
  readonly rawHeaders: readonly string[]
  readonly at: number
  body: string
  outcome: CallOutcome
  /** Resolves when the exchange is over (answered, reset, or the caller went away). */
  readonly settled: Promise<CallOutcome>
}

interface Script {
  readonly answers: ScriptedAnswer[]
  readonly repeatLast: boolean
}

interface Reply {
  readonly status: number
  readonly body?: unknown
}

const NOT_FOUND: Reply = { status: 404, body: { statusCode: 404, message: 'Not Found', error: 'Not Found' } }

export class FakeControlPlane {
  readonly server: http.Server
  readonly apiKey: string
  readonly events = new EventEmitter()
  readonly sandboxes = new Map<string, FakeSandbox>()
  readonly signedTokens = new Map<string, SignedTokenInfo>()
  /** Runners by id for `/runners/{runnerId}/full`. */
  readonly runners = new Map<string, RunnerInfo>()
  /** Snapshots for `GET /snapshots/{id}`: ref, runner id and users allowed. */
  readonly snapshots = new Map<string, { ref: string; runnerId: string; bearers: Set<string> }>()
  /** Body of `GET /config` (a minimal valid `DaytonaConfiguration`). */
  config: Record<string, unknown>
  readonly #log: CallRecord[] = []
  readonly #scripts = new Map<string, Script>()
  readonly #hanging = new Set<ServerResponse>()
  readonly #timers = new Set<NodeJS.Timeout>()
  #seq = 0
  #port = 0

  private constructor(apiKey: string) {
    this.apiKey = apiKey
    this.events.setMaxListeners(0)
    this.config = {}
    this.server = http.createServer((req, res) => { this.#onRequest(req, res) })
    this.server.keepAliveTimeout = 5_000
  }

  static async start(opts: { apiKey?: string } = {}): Promise<FakeControlPlane> {
    const cp = new FakeControlPlane(opts.apiKey ?? DEFAULT_API_KEY)
    await new Promise<void>((resolve, reject) => {
      cp.server.once('error', reject)
      cp.server.listen(0, '127.0.0.1', () => resolve())
    })
    const addr = cp.server.address()
    if (addr === null || typeof addr === 'string') throw new Error('fake control plane has no port')
    cp.#port = addr.port
    cp.config = cp.#defaultConfig()
    return cp
  }

  get port(): number { return this.#port }
  get url(): string { return `http://127.0.0.1:${this.#port}` }

  #defaultConfig(): Record<string, unknown> {
    return {
      version: '0.0.0-fake',
      oidc: { issuer: `${this.url}/fake-oidc-issuer`, clientId: 'fake-client', audience: 'fake-audience' },
      linkedAccountsEnabled: false,
      announcements: {},
      proxyTemplateUrl: 'http://{{PORT}}-{{sandboxId}}.preview.test',
      proxyToolboxUrl: 'http://preview.test/toolbox',
      defaultSnapshot: 'daytonaio/sandbox:latest',
      dashboardUrl: 'http://dashboard.test',
      maxAutoArchiveInterval: 43200,
      maintananceMode: false,
      environment: 'test',
    }
  }

  // ---- state -------------------------------------------------------------------------------

  addSandbox(id: string, init: SandboxInit = {}): FakeSandbox {
    const sbx: FakeSandbox = {
      id,
      public: init.public ?? false,
      previewTokens: new Set(init.previewTokens ?? []),
      bearers: new Set(init.bearers ?? []),
      runner: init.runner ?? null,
      buildInfo: init.buildInfo ?? null,
      signingKey: newSigningKey(),
      state: init.state ?? 'started',
      previewWarning: init.previewWarning ?? true,
      startDelayMs: 0,
      runnerWhenStarted: init.runner ?? null,
    }
    this.sandboxes.set(id, sbx)
    if (sbx.runner !== null) this.runners.set(sbx.runner.id, sbx.runner)
    return sbx
  }

  sandbox(id: string): FakeSandbox {
    const s = this.sandboxes.get(id)
    if (s === undefined) throw new Error(`fake control plane: no sandbox ${id}`)
    return s
  }

  setPublic(id: string, value: boolean): void { this.sandbox(id).public = value }

  /** What `GET /sandbox/{id}` reports as `toolboxProxyUrl` (the SDK builds toolbox URLs on it). */
  toolboxProxyUrl: string | undefined

  /** A new signing key, as `POST /sandbox/{id}/signing-key/rotate` does; returns it. */
  rotateSigningKey(id: string): string {
    const s = this.sandbox(id)
    s.signingKey = newSigningKey()
    return s.signingKey
  }

  /**
   * The Redis the Daytona API shares with its proxy. Set, the fake behaves like the API on a
   * change: it deletes the proxy's reference keys with a plain DEL (changePublic, changeRunner).
   */
  redis: { del(keys: string | string[]): Promise<unknown> } | undefined

  /** Flips the public flag and, like the Daytona API, DELs `proxy:sandbox-public:{id}`. */
  async changePublic(id: string, value: boolean): Promise<void> {
    this.setPublic(id, value)
    await this.redis?.del(`proxy:sandbox-public:${id}`)
  }

  /** Moves the sandbox and, like the Daytona API, DELs `proxy:sandbox-runner-info:{id}`. */
  async changeRunner(id: string, runner: RunnerInfo | null): Promise<void> {
    this.setRunner(id, runner)
    await this.redis?.del(`proxy:sandbox-runner-info:${id}`)
  }

  setRunner(id: string, runner: RunnerInfo | null): void {
    this.sandbox(id).runner = runner
    if (runner !== null) this.runners.set(runner.id, runner)
  }

  /** Stops the sandbox like the platform: no runner, state `stopped` (or `archived`); a start brings the runner back. */
  stopSandbox(id: string, state: 'stopped' | 'archived' = 'stopped'): void {
    const s = this.sandbox(id)
    if (s.runner !== null) s.runnerWhenStarted = s.runner
    s.runner = null
    s.state = state
  }

  /** Ends a start now (a test that set a long `startDelayMs`): the runner comes back, state `started`. */
  finishStart(id: string): void {
    const s = this.sandbox(id)
    this.setRunner(id, s.runnerWhenStarted)
    s.state = 'started'
  }

  /** POST /sandbox/{id}/start calls so far (SPEC §10: one per sandbox however many visitors). */
  startCalls(id: string): number {
    return this.calls(`/sandbox/${id}/start`, 'POST').length
  }

  addSignedToken(token: string, info: { sandboxId: string; port: number; expired?: boolean; revoked?: boolean }): SignedTokenInfo {
    const t: SignedTokenInfo = { sandboxId: info.sandboxId, port: info.port, expired: info.expired ?? false, revoked: info.revoked ?? false }
    this.signedTokens.set(token, t)
    return t
  }

  /**
   * Scripts the next answers for an exact raw path (no query). Answers are used in order; with
   * `repeatLast` the last one answers forever. After the script runs out the state answers.
   */
  script(path: string, answers: readonly ScriptedAnswer[], opts: { repeatLast?: boolean } = {}): void {
    this.#scripts.set(path, { answers: [...answers], repeatLast: opts.repeatLast ?? false })
  }

  clearScript(path: string): void { this.#scripts.delete(path) }

  // ---- call log ------------------------------------------------------------------------------

  /** Calls whose path starts with `pathPrefix` (all calls without one), oldest first. */
  calls(pathPrefix = '', method?: string): CallRecord[] {
    return this.#log.filter((c) => c.path.startsWith(pathPrefix) && (method === undefined || c.method === method))
  }

  /**
   * Calls per SPEC §2 endpoint (`public`, `validate`, `access`, `sandbox-id`, `runner`,
   * `last-activity`, `config`, `other`), counting only calls that mention `text` when given.
   */
  callsPerEndpoint(text?: string): Record<string, number> {
    const out: Record<string, number> = {}
    for (const c of this.#log) {
      if (text !== undefined && !c.url.includes(text)) continue
      const kind = endpointOf(c.method, c.path)
      out[kind] = (out[kind] ?? 0) + 1
    }
    return out
  }

  /** Every call whose raw target mentions `text` (an id or a token). */
  callsMentioning(text: string): CallRecord[] {
    return this.#log.filter((c) => c.url.includes(text))
  }

  /** Resolves with the first call (already logged or future) matching `pred`. */
  waitForCall(pred: (c: CallRecord) => boolean, timeoutMs: number): Promise<CallRecord> {
    const found = this.#log.find(pred)
    if (found !== undefined) return Promise.resolve(found)
    return new Promise<CallRecord>((resolve, reject) => {
      const onCall = (c: CallRecord): void => {
        if (!pred(c)) return
        clearTimeout(timer)
        this.events.off('call', onCall)
        resolve(c)
      }
      const timer = setTimeout(() => {
        this.events.off('call', onCall)
        reject(new Error(`fake control plane: no matching call within ${timeoutMs} ms; calls: ${this.#log.map((c) => `${c.method} ${c.path}`).join(', ')}`))
      }, timeoutMs)
      this.events.on('call', onCall)
    })
  }

  /** Forgets state, scripts and the log; ends hanging answers. */
  reset(): void {
    this.sandboxes.clear()
    this.signedTokens.clear()
    this.runners.clear()
    this.snapshots.clear()
    this.#scripts.clear()
    this.#log.length = 0
    this.config = this.#defaultConfig()
    this.#endHanging()
  }

  async close(): Promise<void> {
    this.#endHanging()
    for (const t of this.#timers) clearTimeout(t)
    this.#timers.clear()
    this.server.closeAllConnections()
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
  }

  #endHanging(): void {
    for (const res of this.#hanging) res.socket?.destroy()
    this.#hanging.clear()
  }

  // ---- request handling ----------------------------------------------------------------------

  #onRequest(req: IncomingMessage, res: ServerResponse): void {
    const url = req.url ?? '/'
    const q = url.indexOf('?')
    const path = q < 0 ? url : url.slice(0, q)
    let settle: (o: CallOutcome) => void = () => {}
    const settled = new Promise<CallOutcome>((resolve) => { settle = resolve })
    this.#seq += 1
    const record: CallRecord = {
      seq: this.#seq,
      method: req.method ?? 'GET',
      path,
      url,
      headers: req.headers,
      rawHeaders: req.rawHeaders,
      at: Date.now(),
      body: '',
      outcome: 'pending',
      settled,
    }
    this.#log.push(record)
    res.on('close', () => {
      this.#hanging.delete(res)
      if (record.outcome === 'pending') record.outcome = res.writableFinished ? 'answered' : 'aborted'
      settle(record.outcome)
    })
    this.events.emit('call', record)

    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('error', () => { /* caller went away */ })
    req.on('end', () => {
      record.body = Buffer.concat(chunks).toString('utf8')
      this.#answer(req, res, record)
    })
  }

  #nextScripted(path: string): ScriptedAnswer | undefined {
    const s = this.#scripts.get(path)
    if (s === undefined || s.answers.length === 0) return undefined
    if (s.answers.length === 1 && s.repeatLast) return s.answers[0]
    const a = s.answers.shift()
    if (s.answers.length === 0 && !s.repeatLast) this.#scripts.delete(path)
    return a
  }

  #answer(req: IncomingMessage, res: ServerResponse, record: CallRecord): void {
    const scripted = this.#nextScripted(record.path)
    const run = (): void => {
      if (res.destroyed) return
      if (scripted?.hang === true) { this.#hanging.add(res); return }
      if (scripted?.reset === true) {
        record.outcome = 'reset'
        const sock: Socket | null = req.socket
        if (typeof sock.resetAndDestroy === 'function') sock.resetAndDestroy()
        else sock.destroy()
        return
      }
      if (scripted?.status !== undefined) {
        const body = scripted.rawBody ?? (scripted.body === undefined ? '' : JSON.stringify(scripted.body))
        res.writeHead(scripted.status, { 'content-type': 'application/json', ...(scripted.headers ?? {}) })
        res.end(body)
        return
      }
      const reply = this.#stateAnswer(req, record)
      res.writeHead(reply.status, { 'content-type': 'application/json' })
      res.end(reply.body === undefined ? '' : JSON.stringify(reply.body))
    }
    const delay = scripted?.delayMs ?? 0
    if (delay > 0) {
      const t = setTimeout(() => { this.#timers.delete(t); run() }, delay)
      this.#timers.add(t)
    } else {
      run()
    }
  }

  #hasApiKey(req: IncomingMessage): boolean {
    return req.headers.authorization === `Bearer ${this.apiKey}`
  }

  #userBearer(req: IncomingMessage): string | undefined {
    const h = req.headers.authorization
    if (h === undefined || !/^Bearer /i.test(h)) return undefined
    return h.slice(7).trim()
  }

  #stateAnswer(req: IncomingMessage, record: CallRecord): Reply {
    const method = req.method ?? 'GET'
    const seg = record.path.split('/').slice(1).map((s) => {
      try { return decodeURIComponent(s) } catch { return s }
    })
    const unauthorized: Reply = { status: 401, body: { statusCode: 401, message: 'Unauthorized', error: 'Unauthorized' } }

    if (method === 'GET' && seg.length === 1 && seg[0] === 'config') return { status: 200, body: this.config }

    if (seg[0] === 'preview') {
      if (method !== 'GET') return NOT_FOUND
      // GET /preview/{id}/public
      if (seg.length === 3 && seg[2] === 'public') {
        if (!this.#hasApiKey(req)) return unauthorized
        const s = this.sandboxes.get(seg[1] ?? '')
        return s !== undefined && s.public ? { status: 200, body: true } : NOT_FOUND
      }
      // GET /preview/{id}/validate/{token}
      if (seg.length === 4 && seg[2] === 'validate') {
        if (!this.#hasApiKey(req)) return unauthorized
        const s = this.sandboxes.get(seg[1] ?? '')
        return s !== undefined && s.previewTokens.has(seg[3] ?? '') ? { status: 200, body: true } : NOT_FOUND
      }
      // GET /preview/{id}/access — judged by the user's bearer, never the API key
      if (seg.length === 3 && seg[2] === 'access') {
        const bearer = this.#userBearer(req)
        if (bearer === undefined) return unauthorized
        const s = this.sandboxes.get(seg[1] ?? '')
        if (s === undefined) return NOT_FOUND
        return s.bearers.has(bearer) ? { status: 200, body: true } : { status: 403, body: { statusCode: 403, message: 'Forbidden', error: 'Forbidden' } }
      }
      // GET /preview/{id}/signing-key (SPEC §10)
      if (seg.length === 3 && seg[2] === 'signing-key') {
        if (!this.#hasApiKey(req)) return unauthorized
        const s = this.sandboxes.get(seg[1] ?? '')
        return s === undefined ? NOT_FOUND : { status: 200, body: s.signingKey }
      }
      // GET /preview/{idOrToken}/preview-warning[?port={port}] (SPEC §10)
      if (seg.length === 3 && seg[2] === 'preview-warning') {
        if (!this.#hasApiKey(req)) return unauthorized
        let s = this.sandboxes.get(seg[1] ?? '')
        if (s === undefined) {
          const t = this.signedTokens.get(seg[1] ?? '')
          const port = new URLSearchParams(record.url.slice(record.path.length + 1)).get('port')
          if (t !== undefined && !t.revoked && String(t.port) === port) s = this.sandboxes.get(t.sandboxId)
        }
        return s === undefined ? NOT_FOUND : { status: 200, body: { enabled: s.previewWarning } }
      }
      // GET /preview/{signedToken}/{port}/sandbox-id
      if (seg.length === 4 && seg[3] === 'sandbox-id') {
        if (!this.#hasApiKey(req)) return unauthorized
        const t = this.signedTokens.get(seg[1] ?? '')
        if (t === undefined || t.revoked) return NOT_FOUND
        if (t.expired) return { status: 400, body: { statusCode: 400, message: 'Token expired', error: 'Bad Request' } }
        if (String(t.port) !== seg[2]) return { status: 400, body: { statusCode: 400, message: 'Token is not valid for this port', error: 'Bad Request' } }
        return { status: 200, body: t.sandboxId }
      }
      return NOT_FOUND
    }

    if (seg[0] === 'runners') {
      if (method !== 'GET') return NOT_FOUND
      if (!this.#hasApiKey(req)) return unauthorized
      // GET /runners/by-sandbox/{id}
      if (seg.length === 3 && seg[1] === 'by-sandbox') {
        const s = this.sandboxes.get(seg[2] ?? '')
        if (s === undefined || s.runner === null) return NOT_FOUND
        return { status: 200, body: runnerFull(s.runner) }
      }
      // GET /runners/{runnerId}/full
      if (seg.length === 3 && seg[2] === 'full') {
        const r = this.runners.get(seg[1] ?? '')
        return r === undefined ? NOT_FOUND : { status: 200, body: runnerFull(r) }
      }
      return NOT_FOUND
    }

    if (seg[0] === 'sandbox') {
      // POST /sandbox/{id}/last-activity
      if (method === 'POST' && seg.length === 3 && seg[2] === 'last-activity') {
        if (!this.#hasApiKey(req)) return unauthorized
        return this.sandboxes.has(seg[1] ?? '') ? { status: 201 } : NOT_FOUND
      }
      // The SDK's signing-key calls (user's bearer): GET …/signing-key, POST …/signing-key/rotate
      if ((seg.length >= 3 && seg[2] === 'signing-key') || (seg.length === 3 && seg[2] === 'toolbox-proxy-url')) {
        const bearer = this.#userBearer(req)
        const s = this.sandboxes.get(seg[1] ?? '')
        if (bearer === undefined || s === undefined || !s.bearers.has(bearer)) return NOT_FOUND
        if (seg[2] === 'toolbox-proxy-url' && method === 'GET') return { status: 200, body: { url: this.toolboxProxyUrl ?? '' } }
        if (method === 'GET' && seg.length === 3) return { status: 200, body: s.signingKey }
        if (method === 'POST' && seg.length === 4 && seg[3] === 'rotate') return { status: 200, body: this.rotateSigningKey(s.id) }
        return NOT_FOUND
      }
      // GET /sandbox/{id} with the API key: the gateway asks for the state (SPEC §10)
      if (method === 'GET' && seg.length === 2 && this.#hasApiKey(req)) {
        const s = this.sandboxes.get(seg[1] ?? '')
        return s === undefined ? NOT_FOUND : { status: 200, body: { id: s.id, state: s.state, runnerId: s.runner?.id } }
      }
      // POST /sandbox/{id}/start (SPEC §10 wake on visit)
      if (method === 'POST' && seg.length === 3 && seg[2] === 'start') {
        if (!this.#hasApiKey(req)) return unauthorized
        const s = this.sandboxes.get(seg[1] ?? '')
        if (s === undefined) return NOT_FOUND
        if (s.state === 'started' || s.state === 'starting') return { status: 200, body: { id: s.id, state: s.state } }
        if (s.state !== 'stopped' && s.state !== 'archived') return { status: 400, body: { statusCode: 400, message: `Sandbox is ${s.state}`, error: 'Bad Request' } }
        s.state = 'starting'
        const started = (): void => {
          if (s.state !== 'starting') return
          this.setRunner(s.id, s.runnerWhenStarted)
          s.state = 'started'
        }
        if (s.startDelayMs <= 0) started()
        else {
          const t = setTimeout(() => { this.#timers.delete(t); started() }, s.startDelayMs)
          this.#timers.add(t)
        }
        return { status: 200, body: { id: s.id, state: s.state } }
      }
      // GET /sandbox/{id} with the user's bearer
      if (method === 'GET' && seg.length === 2) {
        const bearer = this.#userBearer(req)
        if (bearer === undefined) return unauthorized
        const s = this.sandboxes.get(seg[1] ?? '')
        if (s === undefined || !s.bearers.has(bearer)) return NOT_FOUND
        return {
          status: 200,
          body: { id: s.id, state: 'started', runnerId: s.runner?.id, public: s.public, buildInfo: s.buildInfo ?? undefined, toolboxProxyUrl: this.toolboxProxyUrl },
        }
      }
      return NOT_FOUND
    }

    if (seg[0] === 'snapshots' && method === 'GET' && seg.length === 2) {
      const bearer = this.#userBearer(req)
      if (bearer === undefined) return unauthorized
      const snap = this.snapshots.get(seg[1] ?? '')
      if (snap === undefined || !snap.bearers.has(bearer)) return NOT_FOUND
      return { status: 200, body: { id: seg[1], ref: snap.ref, runnerId: snap.runnerId, state: 'building' } }
    }

    return NOT_FOUND
  }
}

function endpointOf(method: string, path: string): string {
  const seg = path.split('/')
  if (seg[1] === 'preview' && seg.length === 4 && seg[3] === 'public') return 'public'
  if (seg[1] === 'preview' && seg.length === 5 && seg[3] === 'validate') return 'validate'
  if (seg[1] === 'preview' && seg.length === 4 && seg[3] === 'access') return 'access'
  if (seg[1] === 'preview' && seg.length === 5 && seg[4] === 'sandbox-id') return 'sandbox-id'
  if (seg[1] === 'preview' && seg.length === 4 && seg[3] === 'signing-key') return 'signing-key'
  if (seg[1] === 'runners' && seg[2] === 'by-sandbox') return 'runner'
  if (method === 'POST' && seg[1] === 'sandbox' && seg[3] === 'last-activity') return 'last-activity'
  if (path === '/config') return 'config'
  if (seg[1] === 'preview' && seg.length === 4 && seg[3] === 'preview-warning') return 'preview-warning'
  if (method === 'GET' && seg[1] === 'sandbox' && seg.length === 3) return 'sandbox'
  if (method === 'POST' && seg[1] === 'sandbox' && seg[3] === 'start') return 'start'
  return 'other'
}

function runnerFull(r: RunnerInfo): Record<string, unknown> {
  return {
    id: r.id,
    domain: 'runner.test',
    apiUrl: r.apiUrl,
    proxyUrl: r.proxyUrl,
    apiKey: r.apiKey,
    cpu: 8,
    memory: 16,
    disk: 100,
    gpu: 0,
    gpuType: '',
    class: 'small',
    region: 'test',
    name: r.id,
    state: 'ready',
    unschedulable: false,
    version: '0',
  }
}

function newSigningKey(): string {
  return randomBytes(24).toString('base64url')
}
