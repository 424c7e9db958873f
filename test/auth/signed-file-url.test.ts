import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHmac } from 'node:crypto'
import { SignedFileUrls, computeFileUrlSignature, parseSignedFileRequest, stripSignedParams } from '../../src/auth/signed-file-url.js'
import type { ControlPlane } from '../../src/control-plane/types.js'

const SIG = 'v1_' + 'a'.repeat(43)

test('SPEC §10: the signature is v1_ + base64url(HMAC-SHA256(key, "v1:files:{METHOD}:{path}:{expires}"))', { timeout: 5000 }, () => {
  const expected = 'v1_' + createHmac('sha256', 'k').update('v1:files:GET:/a b/ü:0').digest('base64url')
  assert.equal(computeFileUrlSignature('k', 'GET', '/a b/ü', '0'), expected)
  assert.equal(expected.length, 46)
})

test('SPEC §10: which requests are signed file requests, and what they claim', { timeout: 5000 }, () => {
  const q = `path=%2Fa+b%2F%C3%BC&expires=123&signature=${SIG}`
  assert.deepEqual(parseSignedFileRequest('GET', '/files/download', q), { method: 'GET', path: '/a b/ü', expires: '123', signature: SIG })
  assert.deepEqual(parseSignedFileRequest('HEAD', '/files/download', q), { method: 'GET', path: '/a b/ü', expires: '123', signature: SIG }, 'HEAD signs as GET')
  assert.deepEqual(parseSignedFileRequest('POST', '/files/upload-v2', q), { method: 'POST', path: '/a b/ü', expires: '123', signature: SIG })
  // Not signed: authenticated as any toolbox request.
  assert.equal(parseSignedFileRequest('GET', '/files/download', 'path=%2Fa'), null)
  assert.equal(parseSignedFileRequest('GET', '/files', q), null)
  assert.equal(parseSignedFileRequest('GET', '/files/download/x', q), null)
  assert.equal(parseSignedFileRequest('GET', '/files/download', 'path=%2Fsignature'), null)
  // Signed but never valid.
  for (const [method, path, query] of [
    ['POST', '/files/download', q], ['PUT', '/files/download', q], ['GET', '/files/upload-v2', q], ['DELETE', '/files/upload-v2', q],
    ['GET', '/files/download', `expires=1&signature=${SIG}`], ['GET', '/files/download', `path=%2Fa&signature=${SIG}`],
    ['GET', '/files/download', `${q}&path=%2Fetc`], ['GET', '/files/download', `${q}&expires=9`], ['GET', '/files/download', `${q}&signature=x`],
    ['GET', '/files/download', `path=%2Fa%zz&expires=1&signature=${SIG}`],
  ] as const) assert.equal(parseSignedFileRequest(method, path, query), 'malformed', `${method} ${path}?${query}`)
})

test('SPEC §10: only signature and expires are cut; every other byte stays', { timeout: 5000 }, () => {
  assert.equal(stripSignedParams(`a=%2f&path=%2Fx+y&expires=1&signature=${SIG}&b&expiresX=2&=&`), 'a=%2f&path=%2Fx+y&b&expiresX=2&=&')
  assert.equal(stripSignedParams('signature=1&expires=2'), '')
  assert.equal(stripSignedParams('path=%2F'), 'path=%2F')
})

test('SPEC §10: key fetched once, re-fetched once on a mismatch (rotation), never a yes on failure', { timeout: 5000 }, async () => {
  let key = 'key-1'
  let calls = 0
  let failing = false
  const cp = { signingKey: async () => { calls++; if (failing) { const { GatewayError } = await import('../../src/errors/codes.js'); throw new GatewayError('CONTROL_PLANE_UNAVAILABLE') } return JSON.parse(JSON.stringify(key)) as string } } as unknown as ControlPlane
  let now = 1_000_000_000_000
  const v = new SignedFileUrls({ controlPlane: cp, maxEntries: 10, now: () => now })
  const waiter = { once: () => undefined, removeListener: () => undefined }
  const req = (k: string, expires = '0'): Parameters<SignedFileUrls['authorize']>[1] => ({ method: 'GET', path: '/f', expires, signature: computeFileUrlSignature(k, 'GET', '/f', expires) })
  assert.equal((await v.authorize('s', req('key-1'), waiter)).verdict, 'allow')
  assert.equal((await v.authorize('s', req('key-1'), waiter)).verdict, 'allow')
  assert.equal(calls, 1, 'cached')
  key = 'key-2'
  assert.equal((await v.authorize('s', req('key-2'), waiter)).verdict, 'allow', 'rotated key accepted')
  assert.equal(calls, 2, 'after exactly one re-fetch')
  assert.equal((await v.authorize('s', req('key-1'), waiter)).verdict, 'deny', 'the old key is dead')
  assert.equal((await v.authorize('s', req('key-2', String(now / 1000 - 1)), waiter)).verdict, 'deny', 'expired')
  assert.equal((await v.authorize('s', req('key-2', String(now / 1000 + 60)), waiter)).verdict, 'allow', 'not yet expired')
  now += 31_000
  failing = true
  assert.equal((await v.authorize('s', req('key-2'), waiter)).verdict, 'unavailable', 'a failed key fetch is never a yes')
})

test('SPEC §10: a mismatch re-fetches only a key answered before the request came; a burst of bad signatures costs one call', { timeout: 5000 }, async () => {
  let key = 'key-1'
  let calls = 0
  const gates: Array<() => void> = []
  const cp = { signingKey: async () => { calls++; await new Promise<void>((r) => gates.push(r)); return key } } as unknown as ControlPlane
  const v = new SignedFileUrls({ controlPlane: cp, maxEntries: 10 })
  const waiter = { once: () => undefined, removeListener: () => undefined }
  const req = (k: string): Parameters<SignedFileUrls['authorize']>[1] => ({ method: 'GET', path: '/f', expires: '0', signature: computeFileUrlSignature(k, 'GET', '/f', '0') })
  const open = async (): Promise<void> => { while (gates.length === 0) await new Promise((r) => setImmediate(r)); gates.shift()?.() }
  // A cold miss with a bad signature: the key was answered after the request came, so it is final.
  const cold = v.authorize('s', req('forged'), waiter)
  await open()
  assert.equal((await cold).verdict, 'deny')
  assert.equal(calls, 1, 'no re-fetch for a key answered after the request came')
  // Ten bad signatures at once: the first mismatch re-fetches, the others join that call. Three
  // more come while it is in flight and join it too. Its answer is final for all of them.
  const burst = Array.from({ length: 10 }, () => v.authorize('s', req('forged'), waiter))
  while (gates.length === 0) await new Promise((r) => setImmediate(r))
  const late = Array.from({ length: 3 }, () => v.authorize('s', req('forged'), waiter))
  await open()
  assert.deepEqual(new Set((await Promise.all([...burst, ...late])).map((d) => d.verdict)), new Set(['deny']))
  assert.equal(calls, 2, 'thirteen mismatches: one re-fetch')
  // A key rotated after that answer: the next URL of the new key is accepted after one more call.
  key = 'key-2'
  const rotated = v.authorize('s', req('key-2'), waiter)
  await open()
  assert.equal((await rotated).verdict, 'allow', 'a URL of a key rotated after the last answer is accepted')
  assert.equal(calls, 3)
  assert.equal((await v.authorize('s', req('key-2'), waiter)).verdict, 'allow')
  assert.equal(calls, 3, 'cached')
})
