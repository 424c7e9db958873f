/**
 * A runner that misbehaves on purpose, for fault tests: a raw TCP server speaking just enough
 * HTTP/1.1 keep-alive to be a runner, which for each request picks (seeded, so a failure can be
 * replayed) one of: answer, TCP reset before reading, reset after the request, reset after part of
 * the headers, reset mid-body, half-close without answering, stall (never answer), or answer with
 * `Connection: close`. `refuse()` closes the listening socket so connects are refused.
 */
import net from 'node:net'
import type { Socket } from 'node:net'
import { rng } from '../helpers/rng.js'

export type Fault = 'ok' | 'reset-before' | 'reset-after-request' | 'reset-mid-headers' | 'reset-mid-body' | 'half-close' | 'stall' | 'close-after'

export const FAULTS: readonly Fault[] = ['ok', 'reset-before', 'reset-after-request', 'reset-mid-headers', 'reset-mid-body', 'half-close', 'stall', 'close-after']

export interface FaultRunnerOptions {
  /** Probability that a request gets a fault rather than a clean answer. */
  readonly faultRate: number
  readonly seed?: number
  /** Faults to draw from (default: all but 'ok'). */
  readonly faults?: readonly Fault[]
}


const BODY = Buffer.from('x'.repeat(100))

/**
 * A TCP reset (RST) where Node can give one cleanly. A socket already half-closed (a shutdown
 * request pending) or with bytes still queued is destroyed instead: on Node 24, resetting one left
 * a request that never completed, and the test process spun forever at exit (CleanupHandles).
 */
function reset(socket: Socket): void {
  if (socket.destroyed) return
  if (socket.writableLength > 0 || socket.pending || socket.writableEnded) socket.destroy()
  else socket.resetAndDestroy()
}

export class FaultRunner {
  #server: net.Server
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
    this.#server = this.#newServer()
  }

  static async start(o: FaultRunnerOptions): Promise<FaultRunner> {
    const r = new FaultRunner(o)
    await r.#listen(0)
    return r
  }

  get url(): string { return `http://127.0.0.1:${this.#port}` }

  /** Stop listening: new connects are refused until `accept()`. Open connections stay. */
  refuse(): Promise<void> {
    // Not awaiting close(): its callback waits for every open connection to end.
    this.#server.close()
    return Promise.resolve()
  }

  /** Listen again on the same port, with a new server (reusing a closing one left a handle behind). */
  async accept(): Promise<void> {
    this.#server = this.#newServer()
    await this.#listen(this.#port)
  }

  /** Resets every open connection at once (a runner restarting, a load balancer flushing). */
  resetAll(): number {
    const n = this.#sockets.size
    for (const s of this.#sockets) reset(s)
    return n
  }

  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy()
    const server = this.#server
    if (server.listening) await new Promise<void>((resolve) => server.close(() => resolve()))
  }

  #newServer(): net.Server {
    return net.createServer((s) => this.#onConnection(s))
  }

  #listen(port: number): Promise<void> {
    const server = this.#server
    return new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject)
        this.#port = (server.address() as net.AddressInfo).port
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
      reset(socket)
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
          busy = true // before: an answer may call `next` at once
          this.#answer(socket, () => { busy = false; onData(Buffer.alloc(0)) })
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
        reset(socket)
        return
      case 'reset-mid-headers':
        socket.write(head.slice(0, 30), () => reset(socket))
        return
      case 'reset-mid-body':
        socket.write(`${head}\r\n${BODY.subarray(0, 10).toString()}`, () => reset(socket))
        return
      case 'half-close':
        socket.end()
        return
      case 'stall':
        return
    }
  }
}
