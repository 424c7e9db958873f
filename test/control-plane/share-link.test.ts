import { test } from 'node:test'
import assert from 'node:assert/strict'
import { base32Decode, base32Encode, mintShareLink, shareLinkKey, verifyShareLink } from '../../src/control-plane/share-link.js'
import { isLabelChars } from '../../src/routing/preview-host.js'

const key = shareLinkKey('s'.repeat(32))

test('share-link tokens fit one lower-case DNS label with the port in front', { timeout: 5000 }, () => {
  const link = mintShareLink(key, 'my-sandbox', 5173, 3600)
  assert.equal(link.token, link.token.toLowerCase())
  assert.ok(isLabelChars(link.token))
  assert.ok(`5173-${link.token}`.length <= 63)
  assert.match(link.linkId, /^[0-9a-f]{12}$/)
})

test('verification finds the sandbox, and refuses other ports, expiry, forgery and other keys', { timeout: 5000 }, () => {
  const now = 1_800_000_000
  const link = mintShareLink(key, 'b', 3000, 60, now)
  assert.equal(verifyShareLink(key, link.token, 3000, ['a', 'b', 'c'], now)?.sandboxId, 'b')
  assert.equal(verifyShareLink(key, link.token.toUpperCase(), 3000, ['b'], now)?.sandboxId, 'b')
  assert.equal(verifyShareLink(key, link.token, 3001, ['a', 'b'], now), null)
  assert.equal(verifyShareLink(key, link.token, 3000, ['b'], now + 60), null)
  assert.equal(verifyShareLink(shareLinkKey('t'.repeat(32)), link.token, 3000, ['b'], now), null)
  const flipped = (link.token[41] === 'a' ? 'b' : 'a')
  assert.equal(verifyShareLink(key, link.token.slice(0, 41) + flipped, 3000, ['b'], now), null)
  assert.equal(verifyShareLink(key, 'short', 3000, ['b'], now), null)
  // Every one-character change is refused, including ones that touch only the last character's padding bits.
  for (let i = 0; i < link.token.length; i++) {
    for (const c of 'abcdefghijklmnopqrstuvwxyz234567') {
      if (c === link.token[i]) continue
      const t = link.token.slice(0, i) + c + link.token.slice(i + 1)
      assert.equal(verifyShareLink(key, t, 3000, ['b'], now), null, t)
    }
  }
})

test('base32 round trip', { timeout: 5000 }, () => {
  for (let n = 0; n < 40; n++) {
    const buf = Buffer.from(Array.from({ length: n }, (_, i) => (i * 37 + n) & 255))
    assert.deepEqual(base32Decode(base32Encode(buf))?.subarray(0, n), buf)
  }
})
