/** WebSocket client helpers for the e2e suite (the `ws` package, explicit Host header). */
import { WebSocket } from 'ws'
import type { RawData } from 'ws'
import type { IncomingMessage } from 'node:http'

export type WsOutcome =
  | { readonly kind: 'open'; readonly ws: WebSocket; readonly protocol: string; readonly extensions: string }
  | { readonly kind: 'rejected'; readonly status: number; readonly headers: IncomingMessage['headers']; readonly body: string }

export interface WsOptions {
  readonly port: number
  readonly host: string
  readonly path: string
  readonly protocols?: readonly string[]
  readonly headers?: Readonly<Record<string, string>>
  readonly origin?: string
  readonly perMessageDeflate?: boolean
  readonly timeoutMs?: number
}

/** Opens a WebSocket through the gateway; a refused handshake resolves as `rejected`. */
export function openWs(opts: WsOptions): Promise<WsOutcome> {
  return new Promise<WsOutcome>((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${opts.port}${opts.path}`, [...(opts.protocols ?? [])], {
      headers: { Host: opts.host, ...(opts.headers ?? {}) },
      ...(opts.origin === undefined ? {} : { origin: opts.origin }),
      perMessageDeflate: opts.perMessageDeflate ?? false,
      handshakeTimeout: opts.timeoutMs ?? 5000,
      followRedirects: false,
    })
    let settled = false
    ws.once('open', () => {
      settled = true
      resolve({ kind: 'open', ws, protocol: ws.protocol, extensions: ws.extensions })
    })
    ws.once('unexpected-response', (_req, res: IncomingMessage) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => {
        settled = true
        resolve({ kind: 'rejected', status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') })
        ws.terminate()
      })
      res.on('error', () => {
        settled = true
        resolve({ kind: 'rejected', status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') })
      })
    })
    ws.once('error', (err) => { if (!settled) { settled = true; reject(err) } })
  })
}

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data
  if (Array.isArray(data)) return Buffer.concat(data)
  return Buffer.from(data)
}

/** Sends one message and waits for the next message back. */
export function roundTrip(ws: WebSocket, data: string | Buffer, timeoutMs = 5000): Promise<{ data: Buffer; isBinary: boolean }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { ws.off('message', onMessage); reject(new Error('no WebSocket echo in time')) }, timeoutMs)
    const onMessage = (msg: RawData, isBinary: boolean): void => {
      clearTimeout(timer)
      resolve({ data: toBuffer(msg), isBinary })
    }
    ws.once('message', onMessage)
    ws.send(data, { binary: typeof data !== 'string' })
  })
}

/** Closes and waits for the close event (bounded). */
export function closeWs(ws: WebSocket, timeoutMs = 2000): Promise<void> {
  return new Promise<void>((resolve) => {
    if (ws.readyState === WebSocket.CLOSED) { resolve(); return }
    const timer = setTimeout(() => { ws.terminate(); resolve() }, timeoutMs)
    ws.once('close', () => { clearTimeout(timer); resolve() })
    ws.close()
  })
}
