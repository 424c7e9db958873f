import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'
import { deriveKey } from '../config/derived-keys.js'
import type { Runner } from '../control-plane/types.js'
import { TTL } from '../resolve/resolver.js'
import type { AnswerCodec } from './shared-answers.js'

/** The reference's keys (Daytona's apps/proxy), which the Daytona API deletes on a change. */
export const PUBLIC_PREFIX = 'proxy:sandbox-public:'
export const RUNNER_PREFIX = 'proxy:sandbox-runner-info:'
/** Our own: auth answers under token hashes, and the per-sandbox list of them for invalidation. */
export const AUTH_INDEX_PREFIX = 'pgw:sandbox-auth:'

/**
 * In-memory lifetime of the reference keys while Redis is up: a `DEL` by the Daytona API is
 * seen by every replica within this (+ one Redis read), i.e. within SPEC §9's 1 s.
 */
export const REFERENCE_LOCAL_CAP_MS = 500

/** `{"value":…}`, the reference's value format. */
function wrap(value: unknown): string {
  return JSON.stringify({ value })
}

function unwrap(text: string): unknown {
  try {
    const o: unknown = JSON.parse(text)
    return o !== null && typeof o === 'object' && 'value' in o ? (o as { value: unknown }).value : undefined
  } catch {
    return undefined
  }
}

function boolCodec(cache: string, redisKey: (k: string) => string, ttlMs: (v: boolean) => number, localCapMs: number, indexKey?: (k: string) => string): AnswerCodec<boolean> {
  return {
    cache,
    redisKey,
    encode: wrap,
    decode(text) { const v = unwrap(text); return typeof v === 'boolean' ? { value: v } : undefined },
    ttlMs,
    localCapMs,
    ...(indexKey === undefined ? {} : { indexKey }),
  }
}

/** `{id}\0{digest}` → `{id}:{digest}` (ids are label characters, digests base64url: no `:`). */
function authKey(kind: string, localKey: string): string {
  return `pgw:${kind}:${localKey.replace('\0', ':')}`
}

function sandboxOf(localKey: string): string {
  const i = localKey.indexOf('\0')
  return AUTH_INDEX_PREFIX + (i === -1 ? localKey : localKey.slice(0, i))
}

const authTtl = (ok: boolean): number => (ok ? TTL.authValid : TTL.authInvalid)

export const publicFlagCodec: AnswerCodec<boolean> = boolCodec('public', (id) => PUBLIC_PREFIX + id, () => TTL.publicFlag, REFERENCE_LOCAL_CAP_MS)
export const previewTokenCodec: AnswerCodec<boolean> = boolCodec('preview_token', (k) => authKey('preview-token', k), authTtl, Infinity, sandboxOf)
export const bearerCodec: AnswerCodec<boolean> = boolCodec('bearer', (k) => authKey('bearer', k), authTtl, Infinity, sandboxOf)

export const signedTokenCodec: AnswerCodec<string | null> = {
  cache: 'signed_token',
  redisKey: (k) => authKey('signed-token', k),
  encode: wrap,
  decode(text) { const v = unwrap(text); return typeof v === 'string' || v === null ? { value: v } : undefined },
  ttlMs: (id) => (id === null ? TTL.signedTokenInvalid : TTL.signedToken),
  localCapMs: Infinity,
}

const ENC_PREFIX = 'enc:v1:'

/**
 * Runner info in the reference's shape `{"value":{"apiUrl":proxyUrl,"apiKey":…}}`, except that
 * the apiKey is AES-256-GCM encrypted with a key derived from the session secret (shared by the
 * fleet through configuration): Redis never holds a runner key in clear. A plain apiKey written
 * by a reference proxy sharing the Redis is read as is (migration); we never write one.
 * A sandbox with no runner is stored as `{"value":null}` for its short TTL.
 */
export function runnerCodec(secret: string): AnswerCodec<Runner | null> {
  const key = deriveKey(secret, 'redis-runner-key-v1')
  const seal = (plain: string): string => {
    const iv = randomBytes(12)
    const c = createCipheriv('aes-256-gcm', key, iv)
    const body = Buffer.concat([c.update(plain, 'utf8'), c.final(), c.getAuthTag()])
    return ENC_PREFIX + Buffer.concat([iv, body]).toString('base64url')
  }
  const open = (sealed: string): string | undefined => {
    if (!sealed.startsWith(ENC_PREFIX)) return sealed
    try {
      const raw = Buffer.from(sealed.slice(ENC_PREFIX.length), 'base64url')
      if (raw.length < 12 + 16) return undefined
      const d = createDecipheriv('aes-256-gcm', key, raw.subarray(0, 12))
      d.setAuthTag(raw.subarray(raw.length - 16))
      return Buffer.concat([d.update(raw.subarray(12, raw.length - 16)), d.final()]).toString('utf8')
    } catch {
      return undefined // another secret, or tampered: a miss
    }
  }
  return {
    cache: 'runner',
    redisKey: (id) => RUNNER_PREFIX + id,
    encode(r) {
      if (r === null) return wrap(null)
      // Embedded-mode plain upstreams are local configuration, never shared.
      if (r.upstreams !== undefined) return undefined
      return wrap({ apiUrl: r.proxyUrl, apiKey: seal(r.apiKey), ...(r.id === undefined ? {} : { runnerId: r.id }) })
    },
    decode(text) {
      const v = unwrap(text)
      if (v === null) return { value: null }
      if (v === undefined || typeof v !== 'object') return undefined
      const o = v as { apiUrl?: unknown; apiKey?: unknown; runnerId?: unknown }
      if (typeof o.apiUrl !== 'string' || typeof o.apiKey !== 'string') return undefined
      const apiKey = open(o.apiKey)
      if (apiKey === undefined) return undefined
      return { value: { proxyUrl: o.apiUrl, apiKey, ...(typeof o.runnerId === 'string' ? { id: o.runnerId } : {}) } }
    },
    ttlMs: (r) => (r === null ? TTL.runnerNotFound : TTL.runner),
    localCapMs: REFERENCE_LOCAL_CAP_MS,
  }
}
