import { Pool, type Dispatcher } from 'undici'
import { GatewayError } from '../errors/codes.js'
import { isLabelChars } from '../routing/preview-host.js'
import { DEFAULT_RETRY, backoffMs, isFailureStatus, type RetryPolicy } from './retry.js'
import type { BuildLogSource, ControlPlane, OidcSettings, Runner, UserSandboxAnswer } from './types.js'

export interface HttpControlPlaneOptions {
  readonly apiUrl: string
  readonly apiKey: string
  readonly timeoutMs: number
  readonly retry?: RetryPolicy
  readonly onCall?: (call: string, outcome: 'ok' | 'no' | 'failure', durationMs: number, tries: number) => void
}

interface Reply {
  readonly status: number
  readonly body: string
}

class AttemptFailed extends Error {}

/** Percent-encodes one path segment after a charset check (SPEC §6: ids and tokens are checked). */
function segment(value: string): string {
  if (!isLabelChars(value)) throw new GatewayError('BAD_REQUEST')
  return value
}

/** encodeURIComponent leaves `.`: a token of `..` would walk the API path, so dots are encoded too. */
function encodeSegment(value: string): string {
  return encodeURIComponent(value).replace(/\./g, '%2E')
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) { reject(signal.reason); return }
    const t = setTimeout(done, ms)
    function done(): void { signal?.removeEventListener('abort', onAbort); resolve() }
    function onAbort(): void { clearTimeout(t); reject(signal?.reason) }
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

/** An answer the contract does not describe: neither yes nor no, so never cached as either. */
function unreadable(call: string, status: number): GatewayError {
  return new GatewayError('CONTROL_PLANE_UNAVAILABLE', { cause: new Error(`${call}: unreadable answer (status ${status})`) })
}

function parseJson(text: string): unknown {
  try { return JSON.parse(text) } catch { return undefined }
}

/**
 * The Daytona API over one undici keep-alive Pool. Each try holds its own timer: on Node 20 a
 * signal from AbortSignal.any() over AbortSignal.timeout() can be collected and never fire
 * (nodejs/node#55428, nodejs/undici#3644), so a hung API would hang requests forever.
 */
export class HttpControlPlane implements ControlPlane {
  readonly kind = 'daytona' as const
  #pool: Pool
  #prefix: string
  #auth: string
  #timeoutMs: number
  #retry: RetryPolicy
  #onCall: HttpControlPlaneOptions['onCall']

  constructor(options: HttpControlPlaneOptions) {
    const url = new URL(options.apiUrl)
    this.#prefix = url.pathname.replace(/\/+$/, '')
    this.#pool = new Pool(url.origin, {
      connections: 64,
      keepAliveTimeout: 30_000,
      keepAliveMaxTimeout: 600_000,
      connectTimeout: options.timeoutMs,
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
    })
    this.#auth = `Bearer ${options.apiKey}`
    this.#timeoutMs = options.timeoutMs
    this.#retry = options.retry ?? DEFAULT_RETRY
    this.#onCall = options.onCall
  }

  async #attempt(method: 'GET' | 'POST', path: string, auth: string, signal: AbortSignal | undefined): Promise<Reply> {
    const controller = new AbortController()
    const timer = setTimeout(() => controller.abort(new AttemptFailed('timeout')), this.#timeoutMs)
    const onAbort = (): void => controller.abort(signal?.reason)
    signal?.addEventListener('abort', onAbort, { once: true })
    try {
      const opts: Dispatcher.RequestOptions = {
        method,
        path: this.#prefix + path,
        headers: { authorization: auth, accept: 'application/json' },
        signal: controller.signal,
      }
      if (method === 'POST') { opts.body = ''; (opts.headers as Record<string, string>)['content-type'] = 'application/json' }
      const res = await this.#pool.request(opts)
      const body = await res.body.text()
      return { status: res.statusCode, body }
    } catch (err) {
      if (signal?.aborted) throw signal.reason ?? err
      throw new AttemptFailed('request failed', { cause: err })
    } finally {
      clearTimeout(timer)
      signal?.removeEventListener('abort', onAbort)
    }
  }

  /** Definite replies (2xx, or a 4xx other than 408/429) are returned; failures retried, then thrown. */
  async #call(name: string, method: 'GET' | 'POST', path: string, signal?: AbortSignal, auth: string = this.#auth, tries: number = this.#retry.tries): Promise<Reply> {
    const started = performance.now()
    let lastCause: unknown
    for (let attempt = 0; attempt < tries; attempt++) {
      if (attempt > 0) await sleep(backoffMs(this.#retry, attempt), signal)
      try {
        const reply = await this.#attempt(method, path, auth, signal)
        if (!isFailureStatus(this.#retry, reply.status)) {
          this.#onCall?.(name, reply.status < 300 ? 'ok' : 'no', performance.now() - started, attempt + 1)
          return reply
        }
        lastCause = new Error(`status ${reply.status}`)
      } catch (err) {
        if (!(err instanceof AttemptFailed)) throw err // cancelled: nobody waits any more
        lastCause = err.cause ?? err
      }
    }
    this.#onCall?.(name, 'failure', performance.now() - started, tries)
    throw new GatewayError('CONTROL_PLANE_UNAVAILABLE', { cause: lastCause })
  }

  /** 2xx `true`/`false`, or a definite 4xx "no"; anything else (3xx, a 2xx saying neither) tells nothing: a failure. */
  async #bool(name: string, path: string, signal?: AbortSignal, auth?: string): Promise<boolean> {
    const r = await this.#call(name, 'GET', path, signal, auth)
    if (r.status >= 400) return false
    const v = r.status >= 200 && r.status < 300 ? parseJson(r.body) : undefined
    if (typeof v === 'boolean') return v
    throw unreadable(name, r.status)
  }

  isPublic(sandboxId: string, signal?: AbortSignal): Promise<boolean> {
    return this.#bool('is_public', `/preview/${segment(sandboxId)}/public`, signal)
  }

  validatePreviewToken(sandboxId: string, token: string, signal?: AbortSignal): Promise<boolean> {
    // `.`/`..` would be a dot segment even encoded (servers normalize %2E): a definite "no".
    if (token === '' || token === '.' || token === '..') return Promise.resolve(false)
    return this.#bool('validate_token', `/preview/${segment(sandboxId)}/validate/${encodeSegment(token)}`, signal)
  }

  hasAccess(sandboxId: string, bearer: string, signal?: AbortSignal): Promise<boolean> {
    return this.#bool('has_access', `/preview/${segment(sandboxId)}/access`, signal, `Bearer ${bearer}`)
  }

  async sandboxIdFromSignedToken(token: string, port: number, signal?: AbortSignal): Promise<string | null> {
    const r = await this.#call('signed_token', 'GET', `/preview/${segment(token)}/${port}/sandbox-id`, signal)
    if (r.status >= 300) return null
    const v = parseJson(r.body)
    const id = typeof v === 'string' ? v : r.body.trim()
    return isLabelChars(id) ? id : null
  }

  async runnerBySandbox(sandboxId: string, signal?: AbortSignal): Promise<Runner | null> {
    const r = await this.#call('runner_by_sandbox', 'GET', `/runners/by-sandbox/${segment(sandboxId)}`, signal)
    if (r.status >= 400) return null
    // A redirect, or a 200 without a usable runner, is a failed lookup (SPEC §7), not "no runner".
    const runner = r.status < 300 ? toRunner(parseJson(r.body)) : null
    if (runner === null) throw unreadable('runner_by_sandbox', r.status)
    return runner
  }

  async signingKey(sandboxId: string, signal?: AbortSignal): Promise<string | null> {
    const r = await this.#call('signing_key', 'GET', `/preview/${segment(sandboxId)}/signing-key`, signal)
    if (r.status >= 300) return null
    // A JSON string per the API description; NestJS may also send a returned string as plain text.
    const v = parseJson(r.body)
    const key = typeof v === 'string' ? v : v === undefined ? r.body.trim() : ''
    return key === '' ? null : key
  }

  async sandboxForUser(sandboxId: string, bearer: string, signal?: AbortSignal): Promise<UserSandboxAnswer> {
    const r = await this.#call('get_sandbox', 'GET', `/sandbox/${segment(sandboxId)}`, signal, `Bearer ${bearer}`)
    return r.status < 300 ? 'found' : r.status === 404 ? 'not_found' : 'refused'
  }

  async postLastActivity(sandboxId: string): Promise<void> {
    try {
      await this.#call('last_activity', 'POST', `/sandbox/${segment(sandboxId)}/last-activity`)
    } catch { /* detached and best-effort: counted by onCall */ }
  }

  async oidcSettings(signal?: AbortSignal): Promise<OidcSettings | null> {
    const r = await this.#call('config', 'GET', '/config', signal)
    if (r.status >= 300) return null
    const v = parseJson(r.body) as { oidc?: { issuer?: unknown; clientId?: unknown; audience?: unknown } } | undefined
    const o = v?.oidc
    if (o === undefined || o === null || typeof o !== 'object') return null
    return {
      ...(typeof o.issuer === 'string' ? { issuer: o.issuer } : {}),
      ...(typeof o.clientId === 'string' ? { clientId: o.clientId } : {}),
      ...(typeof o.audience === 'string' ? { audience: o.audience } : {}),
    }
  }

  async buildLogSource(kind: 'sandbox' | 'snapshot', id: string, bearer: string, signal?: AbortSignal): Promise<BuildLogSource | null> {
    const path = kind === 'sandbox' ? `/sandbox/${segment(id)}` : `/snapshots/${encodeSegment(id)}`
    const r = await this.#call(kind === 'sandbox' ? 'get_sandbox' : 'get_snapshot', 'GET', path, signal, `Bearer ${bearer}`)
    if (r.status >= 300) return null
    const v = parseJson(r.body) as { buildInfo?: { snapshotRef?: unknown }; ref?: unknown; runnerId?: unknown; initialRunnerId?: unknown } | undefined
    if (v === undefined || v === null) return null
    const ref = kind === 'sandbox' ? v.buildInfo?.snapshotRef : v.ref
    const runnerId = kind === 'sandbox' ? v.runnerId : (v.initialRunnerId ?? v.runnerId)
    if (typeof ref !== 'string' || typeof runnerId !== 'string' || !isLabelChars(runnerId)) return null
    const rr = await this.#call('runner_full', 'GET', `/runners/${runnerId}/full`, signal)
    if (rr.status >= 300) return null
    const runner = parseJson(rr.body) as { apiUrl?: unknown; apiKey?: unknown } | undefined
    if (typeof runner?.apiUrl !== 'string' || typeof runner.apiKey !== 'string') return null
    return { apiUrl: runner.apiUrl, apiKey: runner.apiKey, snapshotRef: ref }
  }

  async sandboxState(sandboxId: string, signal?: AbortSignal): Promise<string | null> {
    const r = await this.#call('sandbox_state', 'GET', `/sandbox/${segment(sandboxId)}`, signal)
    if (r.status === 404) return null
    const v = parseJson(r.body) as { state?: unknown } | undefined
    // Another "no" (401/403) says nothing about the sandbox: not a state to act on.
    if (r.status >= 300 || typeof v?.state !== 'string') throw new GatewayError('CONTROL_PLANE_UNAVAILABLE', { cause: new Error(`status ${r.status}`) })
    return v.state
  }

  async startSandbox(sandboxId: string): Promise<boolean> {
    try {
      // One try: a start that timed out may still have been taken, and visitors retry anyway.
      const r = await this.#call('start_sandbox', 'POST', `/sandbox/${segment(sandboxId)}/start`, undefined, this.#auth, 1)
      return r.status < 300
    } catch { return false }
  }

  async previewWarning(idOrToken: string, port: number | undefined, signal?: AbortSignal): Promise<boolean> {
    const r = await this.#call('preview_warning', 'GET', `/preview/${segment(idOrToken)}/preview-warning${port === undefined ? '' : `?port=${port}`}`, signal)
    const v = parseJson(r.body) as { enabled?: unknown } | undefined
    // Fail safe: only a definite `{"enabled": false}` hides the page.
    return !(r.status < 300 && v?.enabled === false)
  }

  async close(): Promise<void> {
    await this.#pool.close()
  }
}

/** Validates a RunnerFull JSON: proxyUrl must be an http(s) URL. */
export function toRunner(v: unknown): Runner | null {
  if (v === null || typeof v !== 'object') return null
  const o = v as Record<string, unknown>
  const proxyUrl = typeof o.proxyUrl === 'string' ? o.proxyUrl : undefined
  if (proxyUrl === undefined || !/^https?:\/\//i.test(proxyUrl)) return null
  return {
    ...(typeof o.id === 'string' ? { id: o.id } : {}),
    proxyUrl: proxyUrl.replace(/\/+$/, ''),
    apiKey: typeof o.apiKey === 'string' ? o.apiKey : '',
    ...(typeof o.apiUrl === 'string' ? { apiUrl: o.apiUrl } : {}),
  }
}
