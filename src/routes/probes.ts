import type { IncomingMessage, ServerResponse } from 'node:http'
import { sendJson } from '../errors/respond.js'

/** SPEC §8 liveness: answered while the process runs, draining included. */
export function healthProbe(version: string) {
  const body = { status: 'ok', version }
  return (_req: IncomingMessage, res: ServerResponse): void => sendJson(res, 200, body)
}

/** SPEC §8 readiness: 503 once the gateway drains, so the load balancer stops sending. */
export function readinessProbe(isReady: () => boolean) {
  return (_req: IncomingMessage, res: ServerResponse): void => {
    if (isReady()) sendJson(res, 200, { status: 'ready' })
    else sendJson(res, 503, { status: 'draining' })
  }
}
