import { SignJWT, jwtVerify } from 'jose'
import { deriveKey } from './keys.js'

/** SPEC §3 step 4: the gateway's own session cookie `daytona-sandbox-auth-{label}`. */
export const SESSION_COOKIE_PREFIX = 'daytona-sandbox-auth-'

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
export class SessionSigner {
  #key: Uint8Array
  #now: () => number

  constructor(secret: string, now: () => number = Date.now) {
    this.#key = deriveKey(secret, 'session-cookie-v1')
    this.#now = now
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
