import type { AuthMethod } from '../auth/chain.js'
import type { GatewayErrorCode } from '../errors/codes.js'
import type { Waiter } from '../resolve/cache.js'

/** HTTP requests and WebSocket upgrades are admitted by the same steps; a few are one kind's only. */
export type Via = 'request' | 'upgrade'

/** The response or upgrade socket: control-plane calls stop when it closes, and so does admission. */
export interface Client extends Waiter {
  readonly destroyed: boolean
}

/** What the access log learns while a request is admitted (a RequestRecord or an UpgradeRecord). */
export interface AdmissionNote {
  kind: 'preview' | 'toolbox' | 'build_logs' | 'health' | 'login' | 'base' | 'invalid'
  label: string | undefined
  sandboxId: string | undefined
}

/** The request goes to this runner address with these headers (credentials stripped). */
export interface Admitted {
  readonly kind: 'admit'
  readonly sandboxId: string
  readonly method: AuthMethod
  readonly toolbox: boolean
  /** Runner origin and the raw upstream path + query (our own parameters removed). */
  readonly origin: string
  readonly path: string
  readonly headers: string[]
  /** A session minted for a signed-token host (SPEC §3), to set on the response. */
  readonly setCookie: string | undefined
  /** SPEC §6 CORS headers for the response (requests with an Origin only). */
  readonly cors: readonly string[] | null
  /** A per-sandbox connection slot was taken: the forwarder gives it back when the stream ends. */
  readonly holdsSlot: boolean
}

/** An error answer: SPEC §7 code, its status unless another is named, and Retry-After if any. */
export interface Refused {
  readonly kind: 'refuse'
  readonly code: GatewayErrorCode
  readonly status: number | undefined
  readonly retryAfterSec: number | undefined
}

/** Answers only a request can get (an upgrade is never redirected and never shown a page). */
export type RequestOnly =
  | { readonly kind: 'preflight'; readonly origin: string }
  | { readonly kind: 'login'; readonly location: string }
  | { readonly kind: 'warning'; readonly host: string; readonly url: string }
  | { readonly kind: 'starting' }

/** The client went away while it was being admitted: nothing to answer. */
export interface Gone { readonly kind: 'gone' }

export type Decision = Admitted | Refused | RequestOnly | Gone

const refusals = new Map<string, Refused>()

/** Shared frozen answers: refusing allocates nothing. */
export function refused(code: GatewayErrorCode, status?: number, retryAfterSec?: number): Refused {
  const key = `${code}\0${status ?? ''}\0${retryAfterSec ?? ''}`
  let r = refusals.get(key)
  if (r === undefined) {
    r = Object.freeze({ kind: 'refuse', code, status, retryAfterSec })
    refusals.set(key, r)
  }
  return r
}

export const GONE: Gone = Object.freeze({ kind: 'gone' })
