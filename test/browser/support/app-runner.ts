/**
 * A Daytona-style runner whose "apps" are small HTML pages, for the browser tests: requests come
 * in as `/sandboxes/{id}/toolbox/proxy/{port}{rest}` with `X-Daytona-Authorization: Bearer {key}`
 * (or as a plain upstream, `{rest}` alone). Every sandbox/port serves the same app:
 *
 *   GET /api/data      JSON {app:'fake-app', sandboxId, port, path}
 *   GET /app.js        the page's script: fetch('/api/data') into #fetch-result on load, and on
 *                      #refetch click fetch again and load /late.js (an asset) into #late
 *   GET /late.js       writes "late script ran" into #late
 *   GET /favicon.ico   204
 *   GET anything else  the HTML page: #app names the sandbox and port, #path the path seen
 *
 * `?appcookies=1` on a page makes the app set two cookies of its own over https: `app-none`
 * (SameSite=None; Secure) and `app-part` (the same, Partitioned).
 */
import http from 'node:http'
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http'
import { EventEmitter } from 'node:events'
import type { RunnerInfo } from '../../fakes/control-plane.js'
import { newId } from '../../helpers/http.js'

export interface AppRequest {
  readonly method: string
  /** Raw target as received by the runner. */
  readonly url: string
  /** Path and query after the runner prefix. */
  readonly rest: string
  readonly sandboxId: string | null
  readonly port: string | null
  readonly headers: IncomingHttpHeaders
}

const PREFIX_RE = /^\/sandboxes\/([^/?]+)\/toolbox\/proxy\/(\d+)(.*)$/s

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
}

const APP_JS = `
async function load() {
  const out = document.getElementById('fetch-result');
  try {
    const r = await fetch('/api/data', { headers: { accept: 'application/json' } });
    out.textContent = r.status + ' ' + (r.headers.get('content-type') || '') + ' ' + (await r.text());
  } catch (e) {
    out.textContent = 'fetch failed: ' + e;
  }
}
load();
document.getElementById('refetch').addEventListener('click', () => {
  document.getElementById('fetch-result').textContent = 'pending';
  document.getElementById('late').textContent = 'loading';
  load();
  const s = document.createElement('script');
  s.src = '/late.js?t=' + Date.now();
  s.onerror = () => { document.getElementById('late').textContent = 'late script failed'; };
  document.head.appendChild(s);
});
`

const LATE_JS = `document.getElementById('late').textContent = 'late script ran';`

export class AppRunner {
  readonly server: http.Server
  readonly apiKey: string
  readonly events = new EventEmitter()
  readonly #log: AppRequest[] = []
  #port = 0
  #info: RunnerInfo | undefined

  private constructor(apiKey: string) {
    this.apiKey = apiKey
    this.events.setMaxListeners(0)
    this.server = http.createServer((req, res) => { this.#onRequest(req, res) })
    this.server.keepAliveTimeout = 2_000
  }

  static async start(apiKey = 'app-runner-key-5b2a'): Promise<AppRunner> {
    const r = new AppRunner(apiKey)
    await new Promise<void>((resolve, reject) => {
      r.server.once('error', reject)
      r.server.listen(0, '127.0.0.1', () => resolve())
    })
    const addr = r.server.address()
    if (addr === null || typeof addr === 'string') throw new Error('app runner has no port')
    r.#port = addr.port
    r.#info = { id: newId('app-runner'), proxyUrl: r.url, apiUrl: r.url, apiKey }
    return r
  }

  get port(): number { return this.#port }
  get url(): string { return `http://127.0.0.1:${this.#port}` }
  /** What the fake control plane hands out for sandboxes on this runner. */
  get runnerInfo(): RunnerInfo {
    if (this.#info === undefined) throw new Error('app runner not started')
    return this.#info
  }

  requests(sandboxId?: string): AppRequest[] {
    return sandboxId === undefined ? [...this.#log] : this.#log.filter((r) => r.sandboxId === sandboxId)
  }

  async close(): Promise<void> {
    this.server.closeAllConnections()
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
  }

  #onRequest(req: IncomingMessage, res: ServerResponse): void {
    const url = req.url ?? '/'
    const m = PREFIX_RE.exec(url)
    const rest = m === null ? url : (m[3] === undefined || m[3] === '' ? '/' : m[3])
    const rec: AppRequest = { method: req.method ?? 'GET', url, rest, sandboxId: m?.[1] ?? null, port: m?.[2] ?? null, headers: req.headers }
    this.#log.push(rec)
    this.events.emit('request', rec)
    req.resume()
    req.on('error', () => { /* gateway went away */ })
    req.on('end', () => { this.#answer(req, res, rec) })
  }

  #answer(req: IncomingMessage, res: ServerResponse, rec: AppRequest): void {
    if (rec.sandboxId !== null && req.headers['x-daytona-authorization'] !== `Bearer ${this.apiKey}`) {
      res.writeHead(401, { 'content-type': 'text/plain' })
      res.end('runner: bad X-Daytona-Authorization')
      return
    }
    const u = new URL(rec.rest, 'http://app.invalid')
    const who = { sandboxId: rec.sandboxId, port: rec.port }
    switch (u.pathname) {
      case '/api/data': {
        const body = JSON.stringify({ app: 'fake-app', ...who, path: rec.rest })
        res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' })
        res.end(body)
        return
      }
      case '/app.js':
        res.writeHead(200, { 'content-type': 'text/javascript', 'cache-control': 'no-store' })
        res.end(APP_JS)
        return
      case '/late.js':
        res.writeHead(200, { 'content-type': 'text/javascript', 'cache-control': 'no-store' })
        res.end(LATE_JS)
        return
      case '/favicon.ico':
        res.writeHead(204)
        res.end()
        return
      default: {
        const headers: Record<string, string | string[]> = { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' }
        if (u.searchParams.get('appcookies') === '1') {
          headers['set-cookie'] = [
            'app-none=1; Path=/; SameSite=None; Secure',
            'app-part=1; Path=/; SameSite=None; Secure; Partitioned',
          ]
        }
        const label = `${rec.sandboxId ?? 'plain'}:${rec.port ?? '-'}`
        res.writeHead(200, headers)
        res.end(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>App ${escapeHtml(label)}</title>` +
          `<script src="/app.js" defer></script></head><body>` +
          `<h1 id="app" data-sandbox="${escapeHtml(rec.sandboxId ?? '')}" data-port="${escapeHtml(rec.port ?? '')}">App of ${escapeHtml(label)}</h1>` +
          `<p>Path seen by the app: <code id="path">${escapeHtml(rec.rest)}</code></p>` +
          `<pre id="fetch-result">pending</pre><button id="refetch" type="button">Fetch again</button> <pre id="late">none</pre>` +
          `<p><a id="next" href="/second">second page</a></p></body></html>`)
      }
    }
  }
}
