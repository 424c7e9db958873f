/**
 * "Another site" for cross-site browser tests, reached as `http(s)://{anything}.other.test:{port}`:
 *
 *   GET /embed?src=URL     a page embedding URL in `<iframe id="preview">`
 *   GET /post?action=URL   a page with a POST form to URL (`#go` submits it; no field but `x`)
 */
import http from 'node:http'
import https from 'node:https'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
}

export class OtherSite {
  readonly server: Server
  readonly scheme: 'http' | 'https'
  #port = 0

  private constructor(server: Server, scheme: 'http' | 'https') {
    this.server = server
    this.scheme = scheme
  }

  static async start(tls?: { readonly cert: string; readonly key: string }): Promise<OtherSite> {
    const handler = (req: IncomingMessage, res: ServerResponse): void => { answer(req, res) }
    const server = tls === undefined ? http.createServer(handler) : https.createServer({ cert: tls.cert, key: tls.key }, handler)
    server.keepAliveTimeout = 2_000
    const site = new OtherSite(server, tls === undefined ? 'http' : 'https')
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(0, '127.0.0.1', () => resolve())
    })
    const addr = server.address()
    if (addr === null || typeof addr === 'string') throw new Error('other site has no port')
    site.#port = addr.port
    return site
  }

  get port(): number { return this.#port }

  /** `{scheme}://{host}:{port}` where host defaults to `www.other.test`. */
  origin(host = 'www.other.test'): string {
    return `${this.scheme}://${host}:${this.#port}`
  }

  embedUrl(src: string, host?: string): string {
    return `${this.origin(host)}/embed?src=${encodeURIComponent(src)}`
  }

  postUrl(action: string, host?: string): string {
    return `${this.origin(host)}/post?action=${encodeURIComponent(action)}`
  }

  async close(): Promise<void> {
    this.server.closeAllConnections()
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
  }
}

function answer(req: IncomingMessage, res: ServerResponse): void {
  req.resume()
  const u = new URL(req.url ?? '/', 'http://other.invalid')
  const page = (body: string): void => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' })
    res.end(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Other site</title></head><body>${body}</body></html>`)
  }
  switch (u.pathname) {
    case '/embed':
      return page(`<h1 id="outer">A page on another site</h1><iframe id="preview" src="${escapeHtml(u.searchParams.get('src') ?? 'about:blank')}" width="900" height="500"></iframe>`)
    case '/post':
      return page(`<h1 id="outer">A cross-site form</h1><form id="f" method="post" action="${escapeHtml(u.searchParams.get('action') ?? '/')}"><input type="hidden" name="x" value="1"><button id="go" type="submit">Skip the warning</button></form>`)
    case '/favicon.ico':
      res.writeHead(204)
      res.end()
      return
    default:
      res.writeHead(404, { 'content-type': 'text/plain' })
      res.end('not found')
  }
}
