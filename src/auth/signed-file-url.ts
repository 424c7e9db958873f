import { createHmac, timingSafeEqual } from 'node:crypto'
import { isGatewayError } from '../errors/codes.js'
import type { ControlPlane } from '../control-plane/types.js'
import { AnswerCache, type CacheResult, type Waiter } from '../resolve/cache.js'
import { removeQueryParam } from '../routing/request-target.js'
import type { AuthDecision } from './chain.js'

/**
 * SPEC §10 signed toolbox file URLs (`sandbox.downloadUrl()` / `uploadUrl()` of @daytonaio/sdk
 * 0.218): `/toolbox/{id}/files/download` (GET, HEAD) and `/toolbox/{id}/files/upload-v2` (POST)
 * carrying `path`, `expires` and `signature` are authorized by the signature alone:
 * `"v1_" + base64url(HMAC-SHA256(key, "v1:files:{METHOD}:{path}:{expires}"))`, key from
 * `GET /preview/{id}/signing-key`.
 */
export const SIGNED_PARAMS = Object.freeze({ path: 'path', expires: 'expires', signature: 'signature' })

const DOWNLOAD = '/files/download'
const UPLOAD = '/files/upload-v2'
const PREFIX = 'v1_'
/** "v1_" + 43 base64url characters (32 bytes, unpadded). */
const SIGNATURE_LENGTH = PREFIX.length + 43
const EXPIRES = /^\d{1,15}$/

/**
 * A sandbox's signing key, boxed: a re-fetch makes a new box even when the key is the same.
 * `answeredAfter`: the arrival number of the last request seen when the platform's answer came.
 */
interface SigningKey {
  readonly key: string
  readonly answeredAfter: number
}

/** What a request claims: already parsed, still to be checked against the key. */
export interface SignedFileRequest {
  readonly method: 'GET' | 'POST'
  readonly path: string
  readonly expires: string
  readonly signature: string
}

export type SignedFileVerdict = SignedFileRequest | 'malformed'

export const SIGNING_KEY_TTL_MS = 30_000
const MISSING_KEY_TTL_MS = 5_000

/**
 * Null: not a signed file URL (authenticated as any toolbox request). 'malformed': it is one
 * (a `signature` parameter on a file route) but cannot be valid: wrong method for the operation,
 * a parameter missing, repeated or badly encoded (the daemon must read exactly what was checked).
 */
export function parseSignedFileRequest(method: string | undefined, toolboxPath: string, query: string): SignedFileVerdict | null {
  const download = toolboxPath === DOWNLOAD
  if (!download && toolboxPath !== UPLOAD) return null
  if (query.indexOf(SIGNED_PARAMS.signature) === -1) return null
  let path: string | undefined
  let expires: string | undefined
  let signature: string | undefined
  let bad = false
  for (const part of query.split('&')) {
    const eq = part.indexOf('=')
    const name = eq === -1 ? part : part.slice(0, eq)
    if (name !== SIGNED_PARAMS.path && name !== SIGNED_PARAMS.expires && name !== SIGNED_PARAMS.signature) continue
    const value = eq === -1 ? '' : decodeStrict(part.slice(eq + 1))
    if (value === null) { bad = true; continue }
    if (name === SIGNED_PARAMS.path) { if (path !== undefined) bad = true; path = value }
    else if (name === SIGNED_PARAMS.expires) { if (expires !== undefined) bad = true; expires = value }
    else { if (signature !== undefined) bad = true; signature = value }
  }
  if (signature === undefined) return null
  const m = method === 'GET' || method === 'HEAD' ? 'GET' : method === 'POST' ? 'POST' : null
  if (bad || path === undefined || expires === undefined || m === null || (m === 'GET') !== download) return 'malformed'
  return { method: m, path, expires, signature }
}

/** Form-decoding as the daemon's Go `url.ParseQuery` does; null where it would drop the pair. */
function decodeStrict(v: string): string | null {
  try { return decodeURIComponent(v.replace(/\+/g, ' ')) } catch { return null }
}

/** The query without `signature` and `expires`; every other byte kept (SPEC §10: `path` stays). */
export function stripSignedParams(query: string): string {
  return removeQueryParam(removeQueryParam(query, SIGNED_PARAMS.signature), SIGNED_PARAMS.expires)
}

export function computeFileUrlSignature(key: string, method: 'GET' | 'POST', path: string, expires: string): string {
  return PREFIX + createHmac('sha256', key).update(`v1:files:${method}:${path}:${expires}`).digest('base64url')
}

function signatureMatches(key: string, r: SignedFileRequest): boolean {
  const expected = Buffer.from(computeFileUrlSignature(key, r.method, r.path, r.expires), 'latin1')
  const given = Buffer.from(r.signature, 'latin1')
  return given.length === expected.length && timingSafeEqual(given, expected)
}

export interface SignedFileUrlsOptions {
  readonly controlPlane: ControlPlane
  readonly maxEntries: number
  readonly now?: () => number
  readonly onLookup?: (cache: string, result: CacheResult) => void
  /** Counted with the auth chain's decisions (method `signed_url`). */
  readonly onDecision?: (method: 'signed_url', result: 'allow' | 'deny' | 'unavailable') => void
}

const DENY: AuthDecision = Object.freeze({ verdict: 'deny', examinedAuthorization: false })
const UNAVAILABLE: AuthDecision = Object.freeze({ verdict: 'unavailable', examinedAuthorization: false })

/**
 * Verifies signed file URLs against each sandbox's signing key: cached ≤ 30 s and coalesced
 * (AnswerCache), fetched once more on a mismatch because keys rotate. Keys stay in memory only
 * (never in the shared Redis tier: a key there would sign for anyone who reads it).
 */
export class SignedFileUrls {
  readonly #cp: ControlPlane
  readonly #keys: AnswerCache<SigningKey | null>
  readonly #now: () => number
  readonly #onDecision: SignedFileUrlsOptions['onDecision']
  /** Requests numbered as they arrive: orders them against key answers exactly (one thread). */
  #arrivals = 0

  constructor(options: SignedFileUrlsOptions) {
    this.#cp = options.controlPlane
    this.#now = options.now ?? Date.now
    this.#onDecision = options.onDecision
    this.#keys = new AnswerCache<SigningKey | null>({
      name: 'signing_key',
      max: options.maxEntries,
      ttlMs: (k) => (k === null ? MISSING_KEY_TTL_MS : SIGNING_KEY_TTL_MS),
      now: this.#now,
      ...(options.onLookup ? { onLookup: options.onLookup } : {}),
    })
  }

  /** Allow (method `signed_url`), deny (401) or unavailable (the key could not be fetched: 503). */
  async authorize(sandboxId: string, v: SignedFileVerdict, waiter: Waiter): Promise<AuthDecision> {
    const d = await this.#decide(sandboxId, v, waiter)
    this.#onDecision?.('signed_url', d.verdict)
    return d
  }

  async #decide(sandboxId: string, v: SignedFileVerdict, waiter: Waiter): Promise<AuthDecision> {
    if (v === 'malformed' || v.signature.length !== SIGNATURE_LENGTH || !v.signature.startsWith(PREFIX)) return DENY
    if (v.expires !== '0' && Number(v.expires) * 1000 <= this.#now()) return DENY
    const arrival = ++this.#arrivals
    try {
      let k = await this.#key(sandboxId, waiter)
      if (k === null) return DENY
      if (signatureMatches(k.key, v)) return allow(sandboxId)
      // Keys rotate: a signature the cached key refutes may be from a new one, unless the key was
      // answered after this request arrived (fetched for it, or in flight when it came: a rotation
      // and a new URL inside one key call's round trip is not a case worth a second call). Another
      // request may have re-fetched it already; else fetch once more (one call per sandbox in
      // flight: a burst of bad signatures costs one re-fetch, a sequence no more than a bad bearer).
      if (arrival <= k.answeredAfter) return DENY
      const current = this.#keys.peek(sandboxId)
      if (current !== undefined && current !== k) return current !== null && signatureMatches(current.key, v) ? allow(sandboxId) : DENY
      this.#keys.delete(sandboxId)
      k = await this.#key(sandboxId, waiter)
      return k !== null && signatureMatches(k.key, v) ? allow(sandboxId) : DENY
    } catch (err) {
      if (isGatewayError(err)) return UNAVAILABLE
      throw err // cancelled: the client is gone
    }
  }

  #key(sandboxId: string, waiter: Waiter): Promise<SigningKey | null> {
    return this.#keys.get(sandboxId, async (signal) => {
      const key = await this.#cp.signingKey(sandboxId, signal)
      return key === null || key === '' ? null : { key, answeredAfter: this.#arrivals }
    }, waiter)
  }
}

function allow(sandboxId: string): AuthDecision {
  return { verdict: 'allow', sandboxId, method: 'signed_url', examinedAuthorization: false }
}
