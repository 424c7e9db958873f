import { createHash } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { WARNING_COOKIE, findCookie } from '../auth/cookies.js'
import { escapeHtml, isNavigation } from '../errors/respond.js'
import type { ControlPlane } from '../control-plane/types.js'
import { AnswerCache, type CacheResult, type Waiter } from '../resolve/cache.js'
import { TTL, hashToken } from '../resolve/resolver.js'

/** SPEC §6 preview warning: where the page's form posts (answered in routes/warning-accept.ts). */
export const ACCEPT_PATH = '/accept-daytona-preview-warning'

const STYLE = 'body{font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:12vh auto;padding:0 1rem;color:#1f2328}h1{font-size:1.4rem}.host{font-family:ui-monospace,monospace;background:#f3f4f6;padding:.1em .35em;border-radius:4px;word-break:break-all}button{font:inherit;padding:.55rem 1.1rem;border:0;border-radius:6px;background:#1f6feb;color:#fff;cursor:pointer}small{color:#57606a}'
const STYLE_HASH = createHash('sha256').update(STYLE).digest('base64')
/** The page runs no script, loads nothing, and its form may only post to this host. */
const CSP = `default-src 'none'; style-src 'sha256-${STYLE_HASH}'; form-action 'self'; base-uri 'none'; img-src 'none'`

export interface WarningOptions {
  /** SPEC §10: asked per sandbox whether the page applies (cached like the public flag). */
  readonly controlPlane: ControlPlane
  readonly maxEntries: number
  readonly onLookup?: (cache: string, result: CacheResult) => void
}

/**
 * Shown in place (200, no redirect) to a browser's first navigation; never to fetch/XHR, assets,
 * WebSockets, non-browsers, reserved ports, or with `X-Daytona-Skip-Preview-Warning: true`.
 */
export class PreviewWarning {
  #o: WarningOptions
  readonly flags: AnswerCache<boolean>

  constructor(o: WarningOptions) {
    this.#o = o
    this.flags = new AnswerCache<boolean>({ name: 'preview_warning', max: o.maxEntries, ttlMs: () => TTL.publicFlag, ...(o.onLookup ? { onLookup: o.onLookup } : {}) })
    o.controlPlane.onChange?.(() => this.flags.clear())
  }

  /**
   * SPEC §10: does this sandbox show the page? `port` only for a signed-token label (keys hold its
   * hash). Any failure shows it (fail safe).
   */
  async enabledFor(label: string, port: number | undefined, waiter: Waiter): Promise<boolean> {
    const key = port === undefined ? label : `${port}\0${hashToken(label)}`
    try {
      return await this.flags.get(key, (s) => this.#o.controlPlane.previewWarning(label, port, s), waiter)
    } catch {
      return true
    }
  }

  shouldShow(req: IncomingMessage): boolean {
    if (req.method !== 'GET' || !isNavigation(req)) return false
    const conn = req.headers.connection
    if (conn !== undefined && conn.toLowerCase().includes('upgrade')) return false
    if (req.headers['x-daytona-skip-preview-warning'] === 'true') return false
    return findCookie(req.headers.cookie, WARNING_COOKIE) === undefined
  }

  render(res: ServerResponse, host: string, originalUrl: string): void {
    const action = `${ACCEPT_PATH}?redirect=${encodeURIComponent(originalUrl)}`
    const body = Buffer.from(`<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>Preview warning</title><style>${STYLE}</style></head><body>` +
      `<h1>You are about to open a preview</h1><p>This page is served by a sandbox at <span class="host">${escapeHtml(host)}</span>. It is someone's app in development: don't enter passwords or personal data unless you trust whoever sent you the link.</p>` +
      `<form method="post" action="${escapeHtml(action)}"><button type="submit">Continue to the preview</button></form><p><small>You will not see this page again on this preview for 24 hours.</small></p></body></html>`)
    res.writeHead(200, {
      'Content-Type': 'text/html; charset=utf-8',
      'Content-Length': body.length,
      'Cache-Control': 'no-store',
      'Content-Security-Policy': CSP,
      'X-Content-Type-Options': 'nosniff',
      'Referrer-Policy': 'same-origin', // no-referrer would make the form's POST carry Origin: null
    })
    res.end(body)
  }
}
