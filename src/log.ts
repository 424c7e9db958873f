import { createHash } from 'node:crypto'
import { pino, type Logger } from 'pino'
import type { LogLevel } from './config/load.js'

export type { Logger }

/**
 * One JSON object per line. Secrets never reach a line: known credential fields are redacted by
 * pino, and hosts are logged only as a hash of their first label (SPEC §7: hosts can carry
 * signed tokens).
 */
export function createLogger(level: LogLevel, destination: NodeJS.WritableStream = process.stdout): Logger {
  return pino({
    level,
    base: { service: 'preview-gateway' },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: {
      paths: ['authorization', 'token', 'apiKey', 'runner.apiKey', 'runner.proxyUrl', 'headers.authorization', 'headers.cookie', 'headers["x-daytona-preview-token"]', 'cookie', 'secret'],
      censor: '***',
    },
  }, destination as pino.DestinationStream)
}

/** A short stable digest of a host label, so log lines can be correlated without the label. */
export function hashLabel(label: string): string {
  return createHash('sha256').update(label).digest('base64url').slice(0, 12)
}
