/**
 * A tiny raw-socket HTTP/1.1 client for requests no well-behaved client library will send:
 * duplicate Host, absolute-form targets, CL+TE, obs-fold, NUL bytes, slowloris trickles.
 * It parses just enough of the answer (status line, headers, Content-Length or chunked body, or
 * body-until-close) to assert on it.
 */
import net from 'node:net'
import type { Socket } from 'node:net'

export interface RawResponse {
  readonly status: number
  readonly statusText: string
  /** Header names lower-cased; repeated headers joined with ", ". */
  readonly headers: Readonly<Record<string, string>>
  readonly rawHeaderLines: readonly string[]
  readonly body: Buffer
  /** Bytes of this response exactly as received. */
  readonly raw: Buffer
}

interface Parsed {
  readonly response: RawResponse
  readonly consumed: number
}

function parseResponse(buf: Buffer, ended: boolean): Parsed | undefined {
  const headEnd = buf.indexOf('\r\n\r\n')
  if (headEnd < 0) return undefined
  const head = buf.subarray(0, headEnd).toString('latin1')
  const lines = head.split('\r\n')
  const statusLine = lines[0] ?? ''
  const m = /^HTTP\/1\.[01] (\d{3}) ?(.*)$/.exec(statusLine)
  if (m === null) throw new Error(`not an HTTP response: ${JSON.stringify(statusLine.slice(0, 100))}`)
  const status = Number(m[1])
  const headers: Record<string, string> = {}
  const rawHeaderLines = lines.slice(1)
  for (const line of rawHeaderLines) {
    const i = line.indexOf(':')
    if (i <= 0) continue
    const name = line.slice(0, i).trim().toLowerCase()
    const value = line.slice(i + 1).trim()
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`
  }
  const bodyStart = headEnd + 4
  const make = (body: Buffer, consumed: number): Parsed => ({
    response: { status, statusText: m[2] ?? '', headers, rawHeaderLines, body, raw: buf.subarray(0, consumed) },
    consumed,
  })
  if ((status >= 100 && status < 200) || status === 204 || status === 304) return make(Buffer.alloc(0), bodyStart)
  const te = headers['transfer-encoding']
  if (te !== undefined && /chunked/i.test(te)) {
    const chunks: Buffer[] = []
    let pos = bodyStart
    for (;;) {
      const lineEnd = buf.indexOf('\r\n', pos)
      if (lineEnd < 0) return ended ? make(Buffer.concat(chunks), buf.length) : undefined
      const size = parseInt(buf.subarray(pos, lineEnd).toString('latin1'), 16)
      if (Number.isNaN(size)) throw new Error('bad chunk size in response')
      if (size === 0) {
        const trailerEnd = buf.indexOf('\r\n', lineEnd + 2)
        if (trailerEnd < 0) return ended ? make(Buffer.concat(chunks), buf.length) : undefined
        return make(Buffer.concat(chunks), trailerEnd + 2)
      }
      if (buf.length < lineEnd + 2 + size + 2) return ended ? make(Buffer.concat(chunks), buf.length) : undefined
      chunks.push(buf.subarray(lineEnd + 2, lineEnd + 2 + size))
      pos = lineEnd + 2 + size + 2
    }
  }
  const cl = headers['content-length']
  if (cl !== undefined) {
    const n = Number(cl)
    if (buf.length < bodyStart + n) return ended ? make(buf.subarray(bodyStart), buf.length) : undefined
    return make(buf.subarray(bodyStart, bodyStart + n), bodyStart + n)
  }
  // No framing: the body runs until the connection closes.
  return ended ? make(buf.subarray(bodyStart), buf.length) : undefined
}

/** One TCP connection to the gateway. */
export class RawConnection {
  readonly socket: Socket
  readonly #chunks: Buffer[] = []
  #buffer: Buffer = Buffer.alloc(0)
  #ended = false
  #closed = false
  readonly #closedPromise: Promise<void>
  readonly #waiters = new Set<() => void>()
  /** When the connection closed (ms since epoch), if it did. */
  closedAt: number | undefined

  private constructor(socket: Socket) {
    this.socket = socket
    socket.on('data', (c: Buffer) => { this.#chunks.push(c); this.#buffer = Buffer.concat([this.#buffer, c]); this.#wake() })
    socket.on('end', () => { this.#ended = true; this.#wake() })
    socket.on('error', () => { /* a reset is an outcome the tests read through closed */ })
    this.#closedPromise = new Promise<void>((resolve) => {
      socket.on('close', () => { this.#ended = true; this.#closed = true; this.closedAt = Date.now(); this.#wake(); resolve() })
    })
  }

  static open(port: number, host = '127.0.0.1'): Promise<RawConnection> {
    return new Promise<RawConnection>((resolve, reject) => {
      const socket = net.connect({ port, host })
      socket.once('error', reject)
      socket.once('connect', () => { socket.off('error', reject); resolve(new RawConnection(socket)) })
    })
  }

  get closed(): boolean { return this.#closed }

  /** Everything received so far. */
  get received(): Buffer { return this.#buffer }

  write(data: string | Buffer): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (this.socket.destroyed || !this.socket.writable) { reject(new Error('socket is not writable')); return }
      this.socket.write(typeof data === 'string' ? Buffer.from(data, 'latin1') : data, (err) => (err ? reject(err) : resolve()))
    })
  }

  #wake(): void {
    for (const w of this.#waiters) w()
  }

  #waitForChange(ms: number): Promise<boolean> {
    return new Promise<boolean>((resolve) => {
      const done = (changed: boolean): void => { clearTimeout(timer); this.#waiters.delete(wake); resolve(changed) }
      const wake = (): void => done(true)
      const timer = setTimeout(() => done(false), ms)
      this.#waiters.add(wake)
    })
  }

  /** Waits for one complete response (or rejects after `timeoutMs`). */
  async response(timeoutMs = 5000): Promise<RawResponse> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const parsed = parseResponse(this.#buffer, this.#ended)
      if (parsed !== undefined) {
        this.#buffer = this.#buffer.subarray(parsed.consumed)
        return parsed.response
      }
      if (this.#ended && this.#buffer.length === 0) throw new Error('connection closed without a response')
      const left = deadline - Date.now()
      if (left <= 0) throw new Error(`no complete response within ${timeoutMs} ms (got ${this.#buffer.length} bytes: ${JSON.stringify(this.#buffer.subarray(0, 200).toString('latin1'))})`)
      await this.#waitForChange(left)
    }
  }

  /** Resolves true when the connection closes within `timeoutMs`, false otherwise. */
  async waitClosed(timeoutMs: number): Promise<boolean> {
    if (this.#closed) return true
    let timer: NodeJS.Timeout | undefined
    const r = await Promise.race([
      this.#closedPromise.then(() => true),
      new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(false), timeoutMs) }),
    ])
    if (timer !== undefined) clearTimeout(timer)
    return r
  }

  destroy(): void {
    this.socket.destroy()
  }
}

/**
 * Opens a connection, writes `payload` and returns the first response plus whether the server
 * closed the connection within `closeWithinMs` afterwards.
 */
export async function rawExchange(port: number, payload: string | Buffer, opts: { timeoutMs?: number; closeWithinMs?: number } = {}): Promise<{ response: RawResponse; closed: boolean }> {
  const conn = await RawConnection.open(port)
  try {
    await conn.write(payload).catch(() => { /* the server may close before reading everything */ })
    const response = await conn.response(opts.timeoutMs ?? 5000)
    const closed = await conn.waitClosed(opts.closeWithinMs ?? 2000)
    return { response, closed }
  } finally {
    conn.destroy()
  }
}
