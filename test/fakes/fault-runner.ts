/**
 * A runner that misbehaves on purpose, for fault tests: a raw TCP server speaking just enough
 * HTTP/1.1 keep-alive to be a runner, which for each request picks (seeded, so a failure can be
 * replayed) one of: answer, TCP reset before reading, reset after the request, reset after part of
 * the headers, reset mid-body, half-close without answering, stall (never answer), or answer with
 * `Connection: close`. `refuse()` closes the listening socket so connects are refused.
 */
import net from 'node:net'
import type { Socket } from 'node:net'

export type Fault = 'ok' | 'reset-before' | 'reset-after-request' | 'reset-mid-headers' | 'reset-mid-body' | 'half-close' | 'stall' | 'close-after'

export const FAULTS: readonly Fault[] = ['ok', 'reset-before', 'reset-after-request', 'reset-mid-headers', 'reset-mid-body', 'half-close', 'stall', 'close-after']

export interface FaultRunnerOptions {
  /** Probability that a request gets a fault rather than a clean answer. */
  readonly faultRate: number
  readonly seed?: number
  /** Faults to draw from (default: all but 'ok'). */
  readonly faults?: readonly Fault[]
}

function rng(seed: number): () => number {
  let s = seed >>> 0
  return () => {
    s = (s + 0x6d2b79f5) >>> 0
    let t = s
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const BODY = Buffer.from('x'.repeat(100))

export class FaultRunner {
  readonly server: net.Server
  readonly counts = new Map<Fault, number>()
  /** Requests whose head arrived (each counted once, whatever happened next). */
  requests = 0
  faultRate: number
  #faults: readonly Fault[]
  #random: () => number
  #sockets = new Set<Socket>()
  #port = 0

  private constructor(o: FaultRunnerOptions) {
    this.faultRate = o.faultRate
    this.#faults = o.faults ?? FAULTS.filter((f) => f !== 'ok')
    this.#random = rng(o.seed ?? 1)
    this.server = net.createServer((s) => this.#onConnection(s))
  }

  static async start(o: FaultRunnerOptions): Promise<FaultRunner> {
    const r = new FaultRunner(o)
    await r.#listen(0)
    return r
  }

  get url(): string { return `http://127.0.0.1:${this.#port}` }

  /** Stop listening: new connects are refused until `accept()`. Open connections stay. */
  async refuse(): Promise<void> {
    // The listening socket is closed at once; close()'s callback waits for open connections to
    // drain, and never comes when accept() listens again first (Node emits 'close' only when
    // the server has no handle): waiting for it deadlocked the refuse/accept test under load.
    this.server.close()
  }

  async accept(): Promise<void> {
    await this.#listen(this.#port)
  }

  /** Resets every open connection at once (a runner restarting, a load balancer flushing). */
  resetAll(): number {
    const n = this.#sockets.size
    for (const s of this.#sockets) s.resetAndDestroy()
    return n
  }

  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy()
    if (this.server.listening) await new Promise<void>((resolve) => this.server.close(() => resolve()))
  }

  #listen(port: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.server.once('error', reject)
      this.server.listen(port, '127.0.0.1', () => {
        this.server.off('error', reject)
        this.#port = (this.server.address() as net.AddressInfo).port
        resolve()
      })
    })
  }

  #pick(): Fault {
    if (this.#random() >= this.faultRate) return 'ok'
    return this.#faults[Math.floor(this.#random() * this.#faults.length)] as Fault
  }

  #onConnection(socket: Socket): void {
    this.#sockets.add(socket)
    socket.on('close', () => this.#sockets.delete(socket))
    socket.on('error', () => socket.destroy())
    if (this.#random() < this.faultRate / this.#faults.length) {
      // Reset as soon as the connection is accepted, before a byte is read.
      this.counts.set('reset-before', (this.counts.get('reset-before') ?? 0) + 1)
      socket.resetAndDestroy()
      return
    }
    let buf = Buffer.alloc(0)
    let bodyLeft = 0
    let busy = false
    const onData = (chunk: Buffer): void => {
      buf = Buffer.concat([buf, chunk])
      for (;;) {
        if (busy) return
        if (bodyLeft > 0) {
          const take = Math.min(bodyLeft, buf.length)
          bodyLeft -= take
          buf = buf.subarray(take)
          if (bodyLeft > 0) return
          this.#answer(socket, () => { busy = false; onData(Buffer.alloc(0)) })
          busy = true
          continue
        }
        const end = buf.indexOf('\r\n\r\n')
        if (end === -1) return
        const head = buf.subarray(0, end).toString('latin1')
        buf = buf.subarray(end + 4)
        this.requests++
        const cl = /\r\ncontent-length:\s*(\d+)/i.exec(head)
        bodyLeft = cl === null ? 0 : Number(cl[1])
        if (/\r\ntransfer-encoding:\s*chunked/i.test(head)) {
          // Chunked uploads are not used by the fault tests: answer as if read.
          bodyLeft = 0
        }
        if (bodyLeft === 0) {
          busy = true
          this.#answer(socket, () => { busy = false; onData(Buffer.alloc(0)) })
        }
      }
    }
    socket.on('data', onData)
  }

  /** Answers one request per the drawn fault; `next` is called when the connection may carry another. */
  #answer(socket: Socket, next: () => void): void {
    const fault = this.#pick()
    this.counts.set(fault, (this.counts.get(fault) ?? 0) + 1)
    const head = `HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ${BODY.length}\r\n`
    switch (fault) {
      case 'ok':
        socket.write(`${head}\r\n`)
        socket.write(BODY)
        next()
        return
      case 'close-after':
        socket.end(Buffer.concat([Buffer.from(`${head}Connection: close\r\n\r\n`), BODY]))
        return
      case 'reset-before': // drawn here too: a reused connection reset before its next answer
      case 'reset-after-request':
        socket.resetAndDestroy()
        return
      case 'reset-mid-headers':
        socket.write(head.slice(0, 30), () => socket.resetAndDestroy())
        return
      case 'reset-mid-body':
        socket.write(`${head}\r\n${BODY.subarray(0, 10).toString()}`, () => socket.resetAndDestroy())
        return
      case 'half-close':
        socket.end()
        return
      case 'stall':
        return
    }
  }
}
