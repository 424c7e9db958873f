import { createHash } from 'node:crypto'
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import { ERRORS, type GatewayErrorCode } from './codes.js'

/**
 * The only place that writes gateway-generated answers (SPEC §7): a stable code in the body and
 * in `X-Preview-Error`, `Cache-Control: no-store`, JSON for clients and a small page for browser
 * navigations. Never a stack trace, token, upstream URL or runner key: bodies come from the table.
 */
const JSON_BODIES: Readonly<Record<string, Buffer>> = Object.freeze(Object.fromEntries(
  (Object.keys(ERRORS) as GatewayErrorCode[]).map((code) => {
    const row = ERRORS[code]
    return [code, errorJson(code, row.status, row.error)]
  }),
))

/** SPEC §7 body; SPEC §10: `daytonaCode` beside our code where the platform has one. */
function errorJson(code: GatewayErrorCode, status: number, error: string): Buffer {
  const row = ERRORS[code]
  return Buffer.from(JSON.stringify(row.daytonaCode === undefined
    ? { statusCode: status, error, code, message: row.message, source: 'DAYTONA_PROXY' }
    : { statusCode: status, error, code, daytonaCode: row.daytonaCode, message: row.message, source: 'DAYTONA_PROXY' }))
}

function jsonBody(code: GatewayErrorCode, status: number): Buffer {
  const row = ERRORS[code]
  if (status === row.status) return JSON_BODIES[code] as Buffer
  return errorJson(code, status, STATUS_CODES[status] ?? row.error)
}

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
}

const TITLES: Partial<Record<GatewayErrorCode, string>> = {
  INVALID_HOST: 'No preview here',
  NOT_FOUND: 'Nothing here',
  UNAUTHORIZED: 'You need access to this preview',
  INVALID_LINK: 'This link no longer works',
  LOGIN_FAILED: 'The login did not complete',
  FORBIDDEN: 'Not allowed',
  UPSTREAM_UNREACHABLE: 'The sandbox is not answering',
  UPSTREAM_TIMEOUT: 'The sandbox took too long',
  CONTROL_PLANE_UNAVAILABLE: 'The platform is unavailable',
  OVERLOADED: 'Too busy right now',
  SANDBOX_NOT_STARTED: 'The sandbox is not running',
  SANDBOX_STARTING: 'The sandbox is starting',
  SANDBOX_STOPPED: 'The sandbox is stopped',
  SANDBOX_ERROR: 'The sandbox is in an error state',
  SANDBOX_BUILD_FAILED: 'The sandbox failed to build',
  SANDBOX_NOT_FOUND: 'No such sandbox',
}

const HINTS: Partial<Record<GatewayErrorCode, string>> = {
  UNAUTHORIZED: 'Log in, open the preview link you were given again, or ask the sandbox owner for a new one.',
  INVALID_LINK: 'Share links last a set time and their owner can revoke them; a bookmark may hold an old one.',
  LOGIN_FAILED: 'Open the preview link again to start a new login.',
  FORBIDDEN: 'If you think you should have access, ask the sandbox owner.',
  UPSTREAM_UNREACHABLE: 'Start the sandbox, or the app on this port, then reload.',
  UPSTREAM_TIMEOUT: 'The app may still be starting or compiling; reload in a moment.',
  CONTROL_PLANE_UNAVAILABLE: 'Reload in a moment.',
  OVERLOADED: 'Reload in a moment.',
  SANDBOX_NOT_STARTED: 'Start the sandbox, then reload.',
  SANDBOX_STARTING: 'Reload in a few seconds.',
  SANDBOX_STOPPED: 'Its owner can start it from the dashboard, the CLI or the SDK; then reload.',
  SANDBOX_ERROR: 'Its owner can look at the error in the dashboard and recover or recreate the sandbox.',
  SANDBOX_BUILD_FAILED: 'Its owner can read the build logs, fix the image and create the sandbox again.',
  SANDBOX_NOT_FOUND: 'It may have been deleted; ask whoever shared the link.',
}

const PAGE_STYLE = 'body{font:16px/1.55 system-ui,-apple-system,Segoe UI,sans-serif;max-width:34rem;margin:12vh auto;padding:0 1.25rem;color:#1f2328;background:#fff}h1{font-size:1.35rem;margin:0 0 .75rem}p{margin:.5rem 0}.hint{background:#f6f8fa;border-left:3px solid #1f6feb;padding:.6rem .8rem;border-radius:4px}footer{margin-top:2rem;color:#57606a;font-size:.85rem}code{font-family:ui-monospace,monospace;background:#eff1f3;padding:.05em .35em;border-radius:4px}'
const PAGE_CSP = `default-src 'none'; style-src 'sha256-${createHash('sha256').update(PAGE_STYLE).digest('base64')}'; base-uri 'none'; form-action 'none'`

function htmlBody(code: GatewayErrorCode, status: number): Buffer {
  const row = ERRORS[code]
  const hint = HINTS[code]
  const reason = status === row.status ? row.error : (STATUS_CODES[status] ?? row.error)
  return Buffer.from(`<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>${status} ${escapeHtml(reason)}</title><style>${PAGE_STYLE}</style></head>` +
    `<body><h1>${escapeHtml(TITLES[code] ?? reason)}</h1><p>${escapeHtml(row.message)}</p>${hint === undefined ? '' : `<p class="hint">${escapeHtml(hint)}</p>`}` +
    `<footer>HTTP ${status} · error code <code>${code}</code> · preview gateway</footer></body></html>`)
}

/** SPEC §3 step 6: a browser navigation (Sec-Fetch-Mode: navigate, or a Mozilla UA preferring HTML). */
export function isNavigation(req: IncomingMessage): boolean {
  const mode = req.headers['sec-fetch-mode']
  if (mode !== undefined) return mode === 'navigate'
  if (req.headers['sec-fetch-dest'] !== undefined || req.headers['sec-fetch-site'] !== undefined) return false
  const ua = req.headers['user-agent']
  const accept = req.headers.accept
  return ua !== undefined && ua.startsWith('Mozilla/5.0') && accept !== undefined && prefersHtml(accept)
}

function prefersHtml(accept: string): boolean {
  const html = accept.indexOf('text/html')
  if (html === -1) return false
  const json = accept.indexOf('application/json')
  return json === -1 || html < json
}

export interface ErrorOptions {
  readonly status?: number
  /** Close the connection after the answer (smuggling attempts and ambiguous requests). */
  readonly close?: boolean
  readonly headers?: Readonly<Record<string, string>>
}

/** Writes an error answer; a request body not yet read is discarded so keep-alive survives. */
export function sendError(req: IncomingMessage, res: ServerResponse, code: GatewayErrorCode, options?: ErrorOptions): void {
  const status = options?.status ?? ERRORS[code].status
  if (res.headersSent) { res.destroy(); return }
  const html = isNavigation(req)
  const body = html ? htmlBody(code, status) : jsonBody(code, status)
  res.statusCode = status
  res.setHeader('Content-Type', html ? 'text/html; charset=utf-8' : 'application/json; charset=utf-8')
  res.setHeader('Content-Length', body.length)
  res.setHeader('Cache-Control', 'no-store')
  res.setHeader('X-Preview-Error', code)
  res.setHeader('X-Content-Type-Options', 'nosniff')
  if (html) res.setHeader('Content-Security-Policy', PAGE_CSP)
  if (options?.headers) for (const [k, v] of Object.entries(options.headers)) res.setHeader(k, v)
  // An upload that the upstream started to read and then dropped cannot be drained reliably
  // (its stream state belongs to the failed exchange): close the connection after the answer
  // rather than leave the next request on it waiting forever behind the rest of the body.
  if (options?.close === true || (req.readableDidRead && !req.readableEnded)) res.shouldKeepAlive = false
  res.end(req.method === 'HEAD' ? undefined : body)
  discardBody(req)
}

/**
 * After answering early, read and drop the rest of the upload, or the connection wedges: the
 * next request on it is parsed only once this one's body has been consumed. "Complete" is not
 * enough: a body fully received but left unread in the stream's buffer (an upstream that failed
 * after it started reading) holds the connection just the same.
 */
export function discardBody(req: IncomingMessage): void {
  if (!req.destroyed && !req.readableEnded) req.resume()
}

/** Raw answer on a socket (upgrade refusals, parser errors): the connection is closed after. */
export function sendRawError(socket: Socket, code: GatewayErrorCode, status: number = ERRORS[code].status, extra = ''): void {
  if (!socket.writable) { socket.destroy(); return }
  const body = jsonBody(code, status)
  socket.write(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ERRORS[code].error}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${body.length}\r\n` +
    `Cache-Control: no-store\r\nX-Preview-Error: ${code}\r\n${extra}Connection: close\r\n\r\n`,
  )
  socket.end(body)
}

export function sendJson(res: ServerResponse, status: number, value: unknown, headers?: Readonly<Record<string, string>>): void {
  const body = Buffer.from(JSON.stringify(value))
  res.statusCode = status
  res.setHeader('Content-Type', 'application/json; charset=utf-8')
  res.setHeader('Content-Length', body.length)
  res.setHeader('Cache-Control', 'no-store')
  if (headers) for (const [k, v] of Object.entries(headers)) res.setHeader(k, v)
  res.end(body)
}

/** Gateway redirects: 302/303/307 only (SPEC §6), never cached. */
export function sendRedirect(res: ServerResponse, status: 302 | 303 | 307, location: string, headers?: Readonly<Record<string, string>>): void {
  res.statusCode = status
  res.setHeader('Location', location)
  res.setHeader('Cache-Control', 'no-store')
  res.setHeader('Content-Length', 0)
  if (headers) for (const [k, v] of Object.entries(headers)) res.setHeader(k, v)
  res.end()
}
