import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import { deriveKey } from '../config/derived-keys.js'

/**
 * Signed share links of the embedded control plane, in the `{port}-{signedToken}` host form.
 * A token must fit in one DNS label and survive browsers lower-casing hosts, so it is lower-case
 * base32: 6-byte link id | 4-byte expiry (unix s) | 16-byte HMAC-SHA256(id|exp|sandboxId|port).
 * 26 bytes → 42 characters. The sandbox id is not in the token: resolving tries each sandbox
 * (a registry is small) and compares MACs in constant time.
 */
const ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567'
const TOKEN_BYTES = 26
const TOKEN_CHARS = 42

export function base32Encode(buf: Buffer): string {
  let out = ''
  let bits = 0
  let value = 0
  for (const byte of buf) {
    value = (value << 8) | byte
    bits += 8
    while (bits >= 5) {
      out += ALPHABET[(value >>> (bits - 5)) & 31]
      bits -= 5
    }
  }
  if (bits > 0) out += ALPHABET[(value << (5 - bits)) & 31]
  return out
}

export function base32Decode(s: string): Buffer | null {
  const out: number[] = []
  let bits = 0
  let value = 0
  for (let i = 0; i < s.length; i++) {
    const idx = ALPHABET.indexOf(s[i] as string)
    if (idx === -1) return null
    value = ((value << 5) | idx) & 0xffff
    bits += 5
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff)
      bits -= 8
    }
  }
  // Canonical form only: leftover padding bits must be zero, or two tokens would name one link.
  if ((value & ((1 << bits) - 1)) !== 0) return null
  return Buffer.from(out)
}

export function shareLinkKey(secret: string): Buffer {
  return Buffer.from(deriveKey(secret, 'share-link-v1'))
}

function mac(key: Buffer, linkId: Buffer, exp: number, sandboxId: string, port: number): Buffer {
  return createHmac('sha256', key).update(linkId).update(`|${exp}|${sandboxId}|${port}`).digest().subarray(0, 16)
}

export interface ShareLink {
  readonly token: string
  /** Hex id used to revoke the link (registry `revokedLinks`). */
  readonly linkId: string
  readonly expiresAt: number
}

export function mintShareLink(key: Buffer, sandboxId: string, port: number, ttlSec: number, nowSec = Math.floor(Date.now() / 1000)): ShareLink {
  const linkId = randomBytes(6)
  const exp = nowSec + ttlSec
  const buf = Buffer.alloc(TOKEN_BYTES)
  linkId.copy(buf, 0)
  buf.writeUInt32BE(exp >>> 0, 6)
  mac(key, linkId, exp, sandboxId, port).copy(buf, 10)
  return { token: base32Encode(buf), linkId: linkId.toString('hex'), expiresAt: exp }
}

export interface DecodedLink {
  readonly linkId: string
  readonly expiresAt: number
}

/** Finds which of `sandboxIds` the token was minted for; null when none, or when expired. */
export function verifyShareLink(key: Buffer, token: string, port: number, sandboxIds: Iterable<string>, nowSec = Math.floor(Date.now() / 1000)): (DecodedLink & { sandboxId: string }) | null {
  if (token.length !== TOKEN_CHARS) return null
  const buf = base32Decode(token.toLowerCase())
  if (buf === null || buf.length !== TOKEN_BYTES) return null
  const linkId = buf.subarray(0, 6)
  const exp = buf.readUInt32BE(6)
  if (exp <= nowSec) return null
  const given = buf.subarray(10)
  for (const id of sandboxIds) {
    if (timingSafeEqual(mac(key, linkId, exp, id, port), given)) {
      return { sandboxId: id, linkId: linkId.toString('hex'), expiresAt: exp }
    }
  }
  return null
}
