/**
 * Sends Daytona webhooks the way the platform does (Svix, Standard Webhooks): signed from outside
 * the gateway with the `standardwebhooks` library's own sign(), so the test does not share code
 * with the verifier under test.
 */
import { randomBytes } from 'node:crypto'
import { Webhook } from 'standardwebhooks'
import { request } from '../helpers/http.js'
import type { Reply } from '../helpers/http.js'

export const WEBHOOK_PATH = '/webhooks/daytona'

/** A fresh `whsec_` secret, like the one Daytona's dashboard shows for an endpoint. */
export function newWebhookSecret(): string {
  return `whsec_${randomBytes(24).toString('base64')}`
}

export interface SignedDelivery {
  readonly id: string
  readonly body: string
  readonly headers: Record<string, string>
}

let seq = 0

/** `sandbox.state.updated` for `sandboxId` in the shape of the platform's SandboxStateUpdatedWebhook. */
export function stateUpdated(sandboxId: string): Record<string, unknown> {
  const now = new Date().toISOString()
  return { event: 'sandbox.state.updated', timestamp: now, id: sandboxId, organizationId: 'org-test', oldState: 'started', newState: 'stopped', updatedAt: now }
}

/**
 * Signs `payload` with `secret`. `prefix` picks the header names (`webhook-` Standard Webhooks,
 * `svix-` what Svix sends); `at` backdates the timestamp for replay tests.
 */
export function sign(secret: string, payload: Record<string, unknown> | string, opts: { id?: string; at?: Date; prefix?: 'webhook-' | 'svix-' } = {}): SignedDelivery {
  const id = opts.id ?? `msg_${Date.now().toString(36)}_${++seq}_${randomBytes(4).toString('hex')}`
  const at = opts.at ?? new Date()
  const body = typeof payload === 'string' ? payload : JSON.stringify(payload)
  const signature = new Webhook(secret).sign(id, at, body)
  const p = opts.prefix ?? 'webhook-'
  return {
    id,
    body,
    headers: { 'content-type': 'application/json', [`${p}id`]: id, [`${p}timestamp`]: String(Math.floor(at.getTime() / 1000)), [`${p}signature`]: signature },
  }
}

export function deliver(port: number, host: string, d: { body: string | Buffer; headers: Record<string, string> }, method = 'POST'): Promise<Reply> {
  return request({ port, host, path: WEBHOOK_PATH, method, headers: d.headers, body: d.body, timeoutMs: 10_000 })
}
