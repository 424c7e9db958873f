import { SignJWT, jwtVerify } from 'jose'
import { deriveKey } from '../config/derived-keys.js'
import { SESSION_COOKIE_PREFIX, serializeCookie } from './cookies.js'

/** A session minted on a signed-token host lives this long: with the 30 s token cache, a revoked or expired link stops working within 60 s. */
export const TOKEN_HOST_SESSION_SEC = 30

export interface SessionClaims {
  /** Sandbox id the session grants. */
  readonly sid: string
  /** The host label it was minted under (an id or a signed token): a session never crosses labels. */
  readonly lbl: string
  /** The port it was minted for. */
  readonly prt: number
}

/**
 * jose HS256 JWTs with a key derived from the session secret (never the secret itself), and a
 * server-checked `exp`: a cookie replayed after its Max-Age is refused even if a client kept it.
 */
export interface SessionCookieOptions {
  /** Public scheme is https: Secure; SameSite=None. */
  readonly secure: boolean
  /** CHIPS `Partitioned` (COOKIE_PARTITIONED). */
  readonly partitioned: boolean
}

export class SessionSigner {
  #key: Uint8Array
  #now: () => number
  #cookie: SessionCookieOptions

  constructor(secret: string, now: () => number = Date.now, cookie: SessionCookieOptions = { secure: false, partitioned: false }) {
    this.#key = deriveKey(secret, 'session-cookie-v1')
    this.#now = now
    this.#cookie = cookie
  }

  /** A signed session as a host-only `Set-Cookie` value named after the label it is bound to. */
  async mintCookie(claims: SessionClaims, ttlSec: number): Promise<string> {
    const jwt = await this.mint(claims, ttlSec)
    return serializeCookie(SESSION_COOKIE_PREFIX + claims.lbl, jwt, { secure: this.#cookie.secure, maxAgeSec: ttlSec, partitioned: this.#cookie.partitioned })
  }

  async mint(claims: SessionClaims, ttlSec: number): Promise<string> {
    const iat = Math.floor(this.#now() / 1000)
    return new SignJWT({ sid: claims.sid, lbl: claims.lbl, prt: claims.prt })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuedAt(iat)
      .setExpirationTime(iat + ttlSec)
      .sign(this.#key)
  }

  /** The claims, only when the signature, expiry, label and port all match; else null. */
  async verify(value: string, label: string, port: number): Promise<SessionClaims | null> {
    try {
      const { payload } = await jwtVerify(value, this.#key, {
        algorithms: ['HS256'],
        currentDate: new Date(this.#now()),
        clockTolerance: 0,
      })
      if (payload.lbl !== label || payload.prt !== port || typeof payload.sid !== 'string') return null
      return { sid: payload.sid, lbl: label, prt: port }
    } catch {
      return null
    }
  }
}
