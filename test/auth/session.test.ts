import { test } from 'node:test'
import assert from 'node:assert/strict'
import { SessionSigner } from '../../src/auth/session.js'
import { findCookie, serializeCookie, stripGatewayCookies } from '../../src/auth/cookies.js'

test('SPEC §3 step 4: a session is bound to label and port, and expires server-side', { timeout: 5000 }, async () => {
  let now = 1_800_000_000_000
  const s = new SessionSigner('x'.repeat(32), () => now)
  const jwt = await s.mint({ sid: 'sbx', lbl: 'tok123', prt: 3000 }, 60)
  assert.deepEqual(await s.verify(jwt, 'tok123', 3000), { sid: 'sbx', lbl: 'tok123', prt: 3000 })
  assert.equal(await s.verify(jwt, 'sbx', 3000), null, 'a token-host session is not accepted on the id host')
  assert.equal(await s.verify(jwt, 'tok123', 3001), null, 'nor on another port')
  assert.equal(await new SessionSigner('y'.repeat(32), () => now).verify(jwt, 'tok123', 3000), null)
  now += 61_000
  assert.equal(await s.verify(jwt, 'tok123', 3000), null, 'expired')
  assert.equal(await s.verify('garbage', 'tok123', 3000), null)
})

test('SPEC §3: cookie attributes', { timeout: 5000 }, () => {
  assert.equal(serializeCookie('n', 'v', { secure: false, maxAgeSec: 30 }), 'n=v; Path=/; Max-Age=30; HttpOnly; SameSite=Lax')
  assert.equal(serializeCookie('n', 'v', { secure: true, maxAgeSec: 30 }), 'n=v; Path=/; Max-Age=30; HttpOnly; Secure; SameSite=None')
})

test('gateway cookies are stripped; the app\'s pass byte for byte', { timeout: 5000 }, () => {
  const h = 'app=1; daytona-sandbox-auth-abc=jwt; theme=dark%20mode;daytona-preview-page-accepted=true; daytona-proxy-login=x'
  assert.equal(stripGatewayCookies(h), 'app=1; theme=dark%20mode')
  assert.equal(stripGatewayCookies('a=1;b=2'), 'a=1;b=2')
  assert.equal(stripGatewayCookies('daytona-sandbox-auth-x=1'), '')
  assert.equal(findCookie(h, 'daytona-sandbox-auth-abc'), 'jwt')
  assert.equal(findCookie(h, 'daytona-sandbox-auth-ab'), undefined)
})
