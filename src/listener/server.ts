import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import { sendRawError } from '../errors/respond.js'
import { IdleClients } from './idle-clients.js'

export interface ListenerOptions {
  readonly tls: { readonly cert: string; readonly key: string } | undefined
  readonly keepAliveTimeoutMs: number
  readonly clientIdleTimeoutMs: number
  readonly onRequest: (req: IncomingMessage, res: ServerResponse) => void
  readonly onUpgrade: (req: IncomingMessage, socket: Duplex, head: Buffer) => void
}

/** SPEC §6: headers over 16 KiB → 431; request headers within 10 s (slowloris). */
export const MAX_HEADER_BYTES = 16 * 1024
export const HEADERS_TIMEOUT_MS = 10_000

/**
 * The public listener. Timeouts are idle timeouts (SPEC §6): Node's 300 s `requestTimeout` would
 * cut a long upload, so it is off; header arrival is checked every second, not every 30 s.
 * llhttp runs strict (no insecureHTTPParser): CL+TE, obs-fold, NUL/bare CR and bad chunk sizes are
 * parse errors, answered 400 and closed by `clientError` below.
 */
export function createListener(options: ListenerOptions): Server {
  const serverOptions = {
    maxHeaderSize: MAX_HEADER_BYTES,
    requestTimeout: 0,
    headersTimeout: HEADERS_TIMEOUT_MS,
    keepAliveTimeout: options.keepAliveTimeoutMs,
    connectionsCheckingInterval: 1000,
    insecureHTTPParser: false,
    requireHostHeader: false, // judged by the router, with our own error body
    joinDuplicateHeaders: false,
    noDelay: true,
    // Node >= 24.12: a request with neither Content-Length nor Transfer-Encoding has no body (RFC 9112
    // §6.3), so it starts ended, without the stream events of an empty body (~4 % of a proxied GET's
    // CPU). Code that reads a body checks `readableEnded` first (routes/webhooks.ts). Older Node ignores it.
    optimizeEmptyRequests: true,
  }
  const server = options.tls
    ? createHttpsServer({ ...serverOptions, cert: options.tls.cert, key: options.tls.key })
    : createHttpServer(serverOptions)
  // No `server.timeout`: its timer per socket is re-armed at every read and write (idle-clients.ts).
  const idle = new IdleClients(options.clientIdleTimeoutMs)
  // Over TLS both events fire for one client: the TLS socket is the one requests use.
  server.on(options.tls ? 'secureConnection' : 'connection', (socket: Socket) => idle.add(socket))
  server.on('close', () => idle.stop())
  server.on('request', options.onRequest)
  // Expect: 100-continue: node:http would invite every body at once; the gateway invites it only
  // once the request is admitted (the forwarder, or a route that reads a body, calls writeContinue),
  // so a refused upload is never sent. Answering without it closes the connection (node:http).
  server.on('checkContinue', options.onRequest)
  server.on('upgrade', options.onUpgrade)
  server.on('clientError', serverOnClientError)
  server.on('connect', serverOnConnect)
  return server
}

/** CONNECT asks for a forward proxy's tunnel: this is a reverse proxy. 400 and closed (node:http would close without a word). */
function serverOnConnect(_req: IncomingMessage, socket: Duplex): void {
  socket.on('error', destroyOnError)
  sendRawError(socket as Socket, 'BAD_REQUEST')
}

/** An error on a socket the gateway answers by hand (CONNECT, upgrades): it is done with. */
export function destroyOnError(this: Duplex): void {
  this.destroy()
}

/** node:http's own name for the response being written on a connection (its default clientError handler reads it too). */
export type ServerSocket = Socket & { _httpMessage?: ServerResponse | null }

function serverOnClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  const s = socket as ServerSocket
  if (err.code === 'ECONNRESET' || !s.writable) { s.destroy(); return }
  const inFlight = s._httpMessage
  if (inFlight != null) {
    // Bytes that do not parse (or any byte after `Connection: close`) behind a complete request
    // still being answered: a 400 written now would land inside that answer, or replace it. The
    // request was valid; it gets its answer, then the connection closes (nothing after it is read).
    if (inFlight.req.complete) {
      inFlight.once('finish', () => s.destroySoon())
      inFlight.once('close', () => s.destroySoon())
      return
    }
    // The request being answered has a broken body: once its answer has started, only a cut is left.
    if (inFlight.headersSent) { s.destroy(); return }
  }
  switch (err.code) {
    case 'HPE_HEADER_OVERFLOW': sendRawError(s, 'HEADERS_TOO_LARGE'); return
    case 'ERR_HTTP_REQUEST_TIMEOUT': sendRawError(s, 'REQUEST_TIMEOUT'); return
    default: sendRawError(s, 'BAD_REQUEST')
  }
}
