import type { IncomingMessage, ServerResponse } from 'node:http'
import { Webhook } from 'standardwebhooks'
import type { FleetHooks } from '../fleet/hooks.js'
import { sendJson } from '../errors/respond.js'

/** SPEC §9: the Daytona platform's webhooks land here, on a base domain. */
export const WEBHOOK_PATH = '/webhooks/daytona'

/** Bodies above this are refused (413); Daytona's events are well under 2 KiB. */
export const WEBHOOK_MAX_BYTES = 64 * 1024
/**
 * After a 413 the rest of the upload is read and dropped (never kept), so that the client sees the
 * answer (a reset while it still sends would hide it) and keep-alive survives; bounded in bytes and
 * time, after which the connection is cut.
 */
const DISCARD_BUDGET_BYTES = 64 * 1024 * 1024
const DISCARD_MAX_MS = 5000
/** Standard Webhooks replay window (the library uses the same). */
const TOLERANCE_SEC = 5 * 60
/** Event ids are remembered this long (longer than the replay window). */
const CLAIM_TTL_SEC = 600
/** The fleet could not be reached: the sender (Svix) retries on a 5xx. */
const RETRY_LATER: Readonly<Record<string, string>> = Object.freeze({ 'Retry-After': '5' })
const MAX_ID_CHARS = 256

/** Bounded label values: event families, never ids. */
export type WebhookEventLabel = 'sandbox.created' | 'sandbox.state.updated' | 'snapshot' | 'volume' | 'other'
export type WebhookResult = 'applied' | 'ignored' | 'duplicate'
export type WebhookRejection = 'method' | 'too_large' | 'unsigned' | 'stale' | 'bad_signature' | 'bad_payload' | 'fleet_unreachable'

export interface WebhookRouteOptions {
  /** `whsec_` + base64, validated by the configuration loader. */
  readonly secret: string
  readonly fleet: FleetHooks
  readonly now?: () => number
  readonly onEvent?: (event: WebhookEventLabel, result: WebhookResult) => void
  readonly onReject?: (reason: WebhookRejection) => void
}

interface Signed { readonly id: string; readonly timestamp: string; readonly signature: string }

function first(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v
}

/** `webhook-*` (Standard Webhooks) or `svix-*` (what Daytona's Svix sends) header names. */
function signedHeaders(req: IncomingMessage): Signed | undefined {
  const h = req.headers
  const id = first(h['webhook-id']) ?? first(h['svix-id'])
  const timestamp = first(h['webhook-timestamp']) ?? first(h['svix-timestamp'])
  const signature = first(h['webhook-signature']) ?? first(h['svix-signature'])
  if (id === undefined || timestamp === undefined || signature === undefined || id === '' || signature === '') return undefined
  return { id, timestamp, signature }
}

function labelOf(event: string): WebhookEventLabel {
  if (event === 'sandbox.created' || event === 'sandbox.state.updated') return event
  if (event.startsWith('snapshot.')) return 'snapshot'
  if (event.startsWith('volume.')) return 'volume'
  return 'other'
}

/** The event type and subject id of both shapes Daytona uses (flat event, or SendWebhookDto). */
function parseEvent(body: Buffer): { readonly event: string; readonly id: string | undefined } | undefined {
  let v: unknown
  try { v = JSON.parse(body.toString('utf8')) } catch { return undefined }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return undefined
  const o = v as Record<string, unknown>
  const event = typeof o.event === 'string' ? o.event : typeof o.eventType === 'string' ? o.eventType : undefined
  if (event === undefined) return undefined
  const payload = o.payload !== null && typeof o.payload === 'object' ? o.payload as Record<string, unknown> : undefined
  const rawId = typeof o.id === 'string' ? o.id : typeof payload?.id === 'string' ? payload.id : undefined
  const id = rawId !== undefined && rawId.length > 0 && rawId.length <= MAX_ID_CHARS ? rawId : undefined
  return { event, id }
}

/**
 * `POST /webhooks/daytona` (SPEC §9): Standard Webhooks signature check with the maintained
 * library, a replay window, a 64 KiB cap, and idempotency by event id across the fleet. A sandbox
 * event drops that sandbox's cached answers on every replica and worker; anything else is
 * acknowledged and ignored (Daytona retries non-2xx deliveries).
 */
export class WebhookRoute {
  readonly #wh: Webhook
  readonly #fleet: FleetHooks
  readonly #now: () => number
  readonly #onEvent: WebhookRouteOptions['onEvent']
  readonly #onReject: WebhookRouteOptions['onReject']

  constructor(options: WebhookRouteOptions) {
    this.#wh = new Webhook(options.secret)
    this.#fleet = options.fleet
    this.#now = options.now ?? Date.now
    this.#onEvent = options.onEvent
    this.#onReject = options.onReject
  }

  readonly handle = (req: IncomingMessage, res: ServerResponse): void => {
    if (req.method !== 'POST') return this.#refuse(res, 405, 'method', { Allow: 'POST' })
    const declared = Number(req.headers['content-length'] ?? 0)
    if (declared > WEBHOOK_MAX_BYTES) {
      // Known too large before a byte is read: answer at once; more than we would drain: and close.
      if (declared > WEBHOOK_MAX_BYTES + DISCARD_BUDGET_BYTES) return this.#refuse(res, 413, 'too_large', { Connection: 'close' })
      this.#refuse(res, 413, 'too_large')
      this.#discard(req, 0)
      return
    }
    const chunks: Buffer[] = []
    let size = 0
    const onData = (chunk: Buffer): void => {
      size += chunk.length
      if (size <= WEBHOOK_MAX_BYTES) { chunks.push(chunk); return }
      // Over the cap mid-stream (chunked): stop keeping bytes, answer, drain within a budget.
      req.off('data', onData)
      req.off('end', onEnd)
      chunks.length = 0
      this.#refuse(res, 413, 'too_large')
      this.#discard(req, size - WEBHOOK_MAX_BYTES)
    }
    const onEnd = (): void => {
      this.#verified(req, res, Buffer.concat(chunks, size)).catch(() => {
        if (!res.headersSent) sendJson(res, 500, { error: 'webhook not processed' })
      })
    }
    // No Content-Length nor Transfer-Encoding: no body, and the request may already be ended (server.ts).
    if (req.readableEnded) { onEnd(); return }
    if (req.headers.expect !== undefined) res.writeContinue() // listener/server.ts: bodies wait for the invitation
    req.on('data', onData)
    req.on('end', onEnd)
  }

  /** Reads and drops the rest of an oversized body, so the connection can serve the next request. */
  #discard(req: IncomingMessage, already: number): void {
    let dropped = already
    const cut = (): void => { req.socket.destroy() }
    const timer = setTimeout(cut, DISCARD_MAX_MS)
    req.on('data', (chunk: Buffer) => {
      dropped += chunk.length
      if (dropped > DISCARD_BUDGET_BYTES) { clearTimeout(timer); cut() }
    })
    req.once('close', () => clearTimeout(timer))
    req.resume()
  }

  async #verified(req: IncomingMessage, res: ServerResponse, body: Buffer): Promise<void> {
    const signed = signedHeaders(req)
    if (signed === undefined) return this.#refuse(res, 401, 'unsigned')
    const ts = /^\d{1,12}$/.test(signed.timestamp) ? Number(signed.timestamp) : Number.NaN
    if (Number.isNaN(ts)) return this.#refuse(res, 400, 'bad_signature')
    if (Math.abs(Math.floor(this.#now() / 1000) - ts) > TOLERANCE_SEC) return this.#refuse(res, 401, 'stale')
    try {
      this.#wh.verify(body, { 'webhook-id': signed.id, 'webhook-timestamp': signed.timestamp, 'webhook-signature': signed.signature }, { jsonParse: false })
    } catch {
      return this.#refuse(res, 401, 'bad_signature')
    }
    const e = parseEvent(body)
    if (e === undefined) return this.#refuse(res, 400, 'bad_payload')
    const label = labelOf(e.event)
    const claim = `webhook:${signed.id}`
    let first = true
    try {
      first = await this.#fleet.claimOnce(claim, CLAIM_TTL_SEC)
    } catch {
      // The claim store is unreachable: invalidating twice is harmless, missing one is not.
    }
    if (!first) {
      this.#onEvent?.(label, 'duplicate')
    } else if ((label === 'sandbox.created' || label === 'sandbox.state.updated') && e.id !== undefined) {
      // 204 only once every replica was reached (SPEC §9); else 503, and the claim is given back,
      // so that the sender's retry of this delivery is applied, not taken for a duplicate.
      if (!(await this.#fleet.invalidateSandbox(e.id))) {
        this.#fleet.releaseClaim(claim)
        return this.#refuse(res, 503, 'fleet_unreachable', RETRY_LATER)
      }
      this.#onEvent?.(label, 'applied')
    } else {
      this.#onEvent?.(label, 'ignored')
    }
    res.statusCode = 204
    res.setHeader('Cache-Control', 'no-store')
    res.end()
  }

  #refuse(res: ServerResponse, status: number, reason: WebhookRejection, headers?: Readonly<Record<string, string>>): void {
    this.#onReject?.(reason)
    if (res.headersSent) return
    sendJson(res, status, { error: reason }, headers)
  }
}
