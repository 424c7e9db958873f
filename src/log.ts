import { hash } from 'node:crypto'
import { pino, type Logger } from 'pino'
import type { LogLevel } from './config/load.js'

export type { Logger }

/**
 * One JSON object per line. Secrets never reach a line: known credential fields are redacted by
 * pino, and hosts are logged only as a hash of their first label (SPEC §7: hosts can carry
 * signed tokens).
 */
export function createLogger(level: LogLevel, destination: NodeJS.WritableStream | pino.DestinationStream = new BatchedLines(process.stdout)): Logger {
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
  // Requests come in runs for one preview: the last answer is kept (one label, never a list).
  if (label !== lastLabel) {
    lastLabel = label
    lastHash = hash('sha256', label, 'base64url').slice(0, 12)
  }
  return lastHash
}

/** What one access line says: bounded words and numbers, a sandbox id and a host hash (nothing to redact). */
export interface AccessFields {
  readonly method: string
  readonly kind: string
  readonly upgrade?: 'websocket'
  readonly status: number
  readonly upstreamStatus?: number | undefined
  readonly bytesOut?: number
  readonly durationMs: number
  readonly upstreamMs?: number | undefined
  readonly upstreamError?: string | undefined
  readonly sandbox: string | undefined
  readonly hostHash: string | undefined
}

const SYM = pino.symbols

/** A number as JSON: NaN and the infinities are not JSON (pino writes them as null too). */
function num(n: number): number | 'null' {
  return Number.isFinite(n) ? n : 'null'
}

/**
 * Access lines, in the logger's own format, bindings, clock and destination (a pino logger and
 * its children alike), without pino's generic serializer: its _asJson built each line from ~40
 * string pieces, 2.2 KB and ~3 µs per request in profiles, the largest single cost the gateway
 * added to a request. The fields are fixed (nginx's log_format is the same idea); every string is
 * escaped by JSON.stringify.
 */
export class AccessLog {
  readonly #out: { write(line: string): unknown }
  readonly #time: () => string
  readonly #head: string
  readonly #bindings: string

  constructor(logger: Logger) {
    const l = logger as unknown as Record<symbol, unknown>
    this.#out = l[SYM.streamSym] as { write(line: string): unknown }
    this.#time = l[SYM.timeSym] as () => string
    this.#head = `{"level":${logger.levels.values['info'] ?? 30}`
    this.#bindings = l[SYM.chindingsSym] as string
  }

  write(f: AccessFields): void {
    let line = `${this.#head}${this.#time()}${this.#bindings},"msg":"access","method":${JSON.stringify(f.method)},"kind":${JSON.stringify(f.kind)}`
    if (f.upgrade !== undefined) line += ',"upgrade":"websocket"'
    line += `,"status":${num(f.status)}`
    if (f.upstreamStatus !== undefined) line += `,"upstreamStatus":${num(f.upstreamStatus)}`
    if (f.bytesOut !== undefined) line += `,"bytesOut":${num(f.bytesOut)}`
    line += `,"durationMs":${num(f.durationMs)}`
    if (f.upstreamMs !== undefined) line += `,"upstreamMs":${num(f.upstreamMs)}`
    if (f.upstreamError !== undefined) line += `,"upstreamError":${JSON.stringify(f.upstreamError)}`
    if (f.sandbox !== undefined) line += `,"sandbox":${JSON.stringify(f.sandbox)}`
    if (f.hostHash !== undefined) line += `,"hostHash":${JSON.stringify(f.hostHash)}`
    this.#out.write(`${line}}\n`)
  }
}

let lastLabel: string | undefined
let lastHash = ''

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

function flushBatch(this: void, b: BatchedLines): void {
  b.flush()
}

/** How long a log line may wait for company, and how much may wait. */
const FLUSH_AFTER_MS = 10
const FLUSH_AT_CHARS = 64 * 1024

/**
 * Log lines reach stdout in batches: at most 10 ms (or 64 KiB) after the first of a batch, and at
 * exit. Under load one write carries dozens of access lines instead of one each (a write per line
 * cost several µs per request); nginx's `buffer=`/`flush=` and Envoy's 1 s flush do the same with
 * longer waits. Writing itself is left to process.stdout (files, pipes, terminals alike).
 */
class BatchedLines {
  #out: NodeJS.WritableStream
  #pending = ''
  #timer: NodeJS.Timeout | undefined

  constructor(out: NodeJS.WritableStream) {
    this.#out = out
    process.once('exit', () => this.flush())
  }

  write(line: string): boolean {
    this.#pending += line
    if (this.#pending.length >= FLUSH_AT_CHARS) this.flush()
    else if (this.#timer === undefined) this.#timer = setTimeout(flushBatch, FLUSH_AFTER_MS, this).unref()
    return true
  }

  /** Also pino's `logger.flush(cb)`: the callback runs once the batch is handed to stdout. */
  flush(done?: () => void): void {
    if (this.#timer !== undefined) { clearTimeout(this.#timer); this.#timer = undefined }
    if (this.#pending !== '') {
      const lines = this.#pending
      this.#pending = ''
      this.#out.write(lines)
    }
    done?.()
  }
}
