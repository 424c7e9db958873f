import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Resolver, TTL, hashToken } from '../../src/resolve/resolver.js'
import type { ControlPlane } from '../../src/control-plane/types.js'
import { stubControlPlane } from '../fakes/control-plane-stub.js'
import { GatewayError } from '../../src/errors/codes.js'


test('SPEC §5: cache keys hold hashes of tokens, never the tokens', { timeout: 5000 }, async () => {
  const r = new Resolver({ controlPlane: stubControlPlane(), maxEntries: 100 })
  const token = 'super-secret-preview-token'
  await r.validatePreviewToken('sbx', token, hashToken(token))
  await r.sandboxIdFromSignedToken('signed-token-value', 3000)
  // Reach the keys through peek with the hashed key: the raw-token key must not exist.
  assert.equal(r.tokens.peek(`sbx\0${hashToken(token)}`), false)
  assert.equal(r.tokens.peek(`sbx\0${token}`), undefined)
  assert.equal(r.signedTokens.peek(`3000\0${hashToken('signed-token-value')}`), null)
})

test('SPEC §5 TTL table', { timeout: 5000 }, () => {
  assert.ok(TTL.publicFlag >= 10_000 && TTL.publicFlag <= 30_000)
  assert.ok(TTL.authValid <= 120_000 && TTL.authInvalid >= 2_000 && TTL.authInvalid <= 5_000)
  assert.ok(TTL.signedToken <= 60_000)
  assert.equal(TTL.runner, 120_000)
})

test('invalidation per sandbox drops its answers only', { timeout: 5000 }, async () => {
  const cp = stubControlPlane()
  const r = new Resolver({ controlPlane: cp, maxEntries: 100 })
  await r.isPublic('a'); await r.isPublic('b'); await r.runner('a')
  await r.validatePreviewToken('a', 'good', hashToken('good'))
  r.invalidateSandbox('a')
  assert.equal(r.publicFlags.peek('a'), undefined)
  assert.equal(r.runners.peek('a'), undefined)
  assert.equal(r.tokens.peek(`a\0${hashToken('good')}`), undefined)
  assert.equal(r.publicFlags.peek('b'), false)
})

test('a runner is served stale while the API fails; auth answers never are', { timeout: 5000 }, async () => {
  let now = 0
  let failing = false
  const cp = stubControlPlane({
    runnerBySandbox: async () => { if (failing) throw new GatewayError('CONTROL_PLANE_UNAVAILABLE'); return { proxyUrl: 'http://r1', apiKey: 'k' } },
    isPublic: async () => { if (failing) throw new GatewayError('CONTROL_PLANE_UNAVAILABLE'); return true },
  })
  const r = new Resolver({ controlPlane: cp, maxEntries: 100, now: () => now })
  await r.runner('s'); await r.isPublic('s')
  failing = true
  now += TTL.runner + 1000
  assert.equal((await r.runner('s'))?.proxyUrl, 'http://r1')
  await assert.rejects(r.isPublic('s'), GatewayError)
})
