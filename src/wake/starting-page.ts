import { createHash } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { discardBody } from '../errors/respond.js'

/** Seconds between two looks: the page reloads itself, clients are told to come back. */
export const RETRY_AFTER_SEC = 2

const STYLE = 'body{font:16px/1.55 system-ui,-apple-system,Segoe UI,sans-serif;max-width:34rem;margin:12vh auto;padding:0 1.25rem;color:#1f2328;background:#fff}h1{font-size:1.35rem;margin:0 0 .75rem;display:flex;align-items:center;gap:.7rem}.spin{width:1.1rem;height:1.1rem;border:3px solid #d0d7de;border-top-color:#1f6feb;border-radius:50%;animation:s 1s linear infinite}@keyframes s{to{transform:rotate(360deg)}}p{margin:.5rem 0}footer{margin-top:2rem;color:#57606a;font-size:.85rem}code{font-family:ui-monospace,monospace;background:#eff1f3;padding:.05em .35em;border-radius:4px}'
/** No script, nothing loaded: the reload is a meta refresh, which CSP does not govern. */
const CSP = `default-src 'none'; style-src 'sha256-${createHash('sha256').update(STYLE).digest('base64')}'; base-uri 'none'; form-action 'none'`

const BODY = Buffer.from('<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">' +
  `<meta http-equiv="refresh" content="${RETRY_AFTER_SEC}"><title>Sandbox is starting</title><style>${STYLE}</style></head>` +
  '<body><h1><span class="spin" aria-hidden="true"></span>Sandbox is starting</h1><p>The sandbox behind this preview is not running yet and is being started.</p>' +
  '<p>This page reloads by itself and shows the app as soon as it is up; there is nothing to do.</p>' +
  '<footer>HTTP 503 · <code>SANDBOX_STARTING</code> · preview gateway</footer></body></html>')

/**
 * SPEC §10: a browser navigation to a sandbox being woken gets this page at once (503: the
 * content is not there yet; browsers render it and follow its refresh, crawlers come back later).
 * It reloads the same URL, so it lands on the app when the sandbox is up.
 */
export function sendStartingPage(req: IncomingMessage, res: ServerResponse): void {
  res.writeHead(503, {
    'Content-Type': 'text/html; charset=utf-8',
    'Content-Length': BODY.length,
    'Cache-Control': 'no-store',
    'Retry-After': String(RETRY_AFTER_SEC),
    'X-Preview-Error': 'SANDBOX_STARTING',
    'Content-Security-Policy': CSP,
    'X-Content-Type-Options': 'nosniff',
  })
  res.end(req.method === 'HEAD' ? undefined : BODY)
  discardBody(req)
}
