import { hkdfSync } from 'node:crypto'

export type KeyPurpose = 'session-cookie-v1' | 'share-link-v1' | 'oidc-state-v1' | 'oidc-login-cookie-v1' | 'login-ticket-v1' | 'redis-runner-key-v1'

/** One key per purpose, derived from the configured secret (never the secret itself). */
export function deriveKey(secret: string, purpose: KeyPurpose): Uint8Array {
  return new Uint8Array(hkdfSync('sha256', secret, 'preview-gateway', purpose, 32))
}
