import { hash } from 'node:crypto'
import { pino, type Logger } from 'pino'
import type { LogLevel } from './config/load.js'

export type { Logger }

/**
 * One JSON object per line. Secrets never reach a line: known credential fields are redacted by
 * pino, and hosts are logged only as a hash of their first label (SPEC §7: hosts can carry
 * signed tokens).
 */
export function createLogger(level: LogLevel, destination: NodeJS.WritableStream | pino.DestinationStream = new TurnBatched(process.stdout)): Logger {
  return pino({
    level,
    base: { service: 'preview-gateway' },
    timestamp: isoTimeByMillisecond,
    redact: {
      paths: ['authorization', 'token', 'apiKey', 'runner.apiKey', 'runner.proxyUrl', 'headers.authorization', 'headers.cookie', 'headers["x-daytona-preview-token"]', 'cookie', 'secret'],
      censor: '***',
    },
  }, destination as pino.DestinationStream)
}

/** A short stable digest of a host label, so log lines can be correlated without the label. */
export function hashLabel(label: string): string {
  return hash('sha256', label, 'base64url').slice(0, 12)
}

let lastMs = -1
let lastTime = ''

/** pino's isoTime, formatted once per millisecond: under load many access lines share one. */
function isoTimeByMillisecond(): string {
  const now = Date.now()
  if (now !== lastMs) {
    lastMs = now
    lastTime = `,"time":"${new Date(now).toISOString()}"`
  }
  return lastTime
}

function flushTurn(this: void, b: TurnBatched): void {
  b.flush()
}

/**
 * The lines of one event-loop turn go to stdout in one write (flushed on setImmediate, and at
 * exit): under load one syscall carries many access lines instead of one each, and nothing waits
 * longer than the turn. Writing is left to process.stdout (files, pipes, terminals alike).
 */
class TurnBatched {
  #out: NodeJS.WritableStream
  #pending = ''
  #scheduled = false

  constructor(out: NodeJS.WritableStream) {
    this.#out = out
    process.once('exit', () => this.flush())
  }

  write(line: string): boolean {
    this.#pending += line
    if (!this.#scheduled) {
      this.#scheduled = true
      setImmediate(flushTurn, this)
    }
    return true
  }

  flush(): void {
    this.#scheduled = false
    if (this.#pending === '') return
    const lines = this.#pending
    this.#pending = ''
    this.#out.write(lines)
  }
}
