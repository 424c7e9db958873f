import { test } from 'node:test'
import assert from 'node:assert/strict'
import { buildResponseHeaders, buildUpstreamHeaders, filterSetCookie } from '../../src/forward/headers.js'
import { parseTrustedProxy } from '../../src/config/trusted-proxy-entry.js'
import { TrustedProxies } from '../../src/forward/trusted-proxies.js'

const base = { dropAuthorization: true, upgrade: false, runnerKey: 'rk', forwardedHost: '3000-a.p.test', forwardedProto: 'https', remoteAddress: '10.0.0.9', trustForwarded: false }

test('SPEC §6: request headers set, not appended; hop-by-hop and credentials removed', { timeout: 5000 }, () => {
  const raw = [
    'Host', 'evil', 'Authorization', 'Bearer u', 'X-Daytona-Preview-Token', 't', 'X-Daytona-Authorization', 'Bearer forged',
    'X-Forwarded-Host', 'forged', 'X-Forwarded-Proto', 'http', 'X-Forwarded-For', '1.1.1.1', 'Connection', 'keep-alive, X-Secret-Hop',
    'X-Secret-Hop', '1', 'Keep-Alive', 'timeout=5', 'TE', 'trailers', 'Transfer-Encoding', 'chunked', 'Upgrade', 'h2c',
    'X-Daytona-Skip-Last-Activity-Update', 'true', 'X-Daytona-Disable-CORS', 'true', 'X-Daytona-Skip-Preview-Warning', 'true',
    'Cookie', 'a=1; daytona-sandbox-auth-x=s', 'Accept', '*/*', 'Expect', '100-continue',
  ]
  assert.deepEqual(buildUpstreamHeaders(raw, base), [
    'Cookie', 'a=1', 'Accept', '*/*',
    'X-Daytona-Authorization', 'Bearer rk', 'X-Forwarded-Host', '3000-a.p.test', 'X-Forwarded-Proto', 'https',
    'X-Forwarded-For', '10.0.0.9',
  ])
  const kept = buildUpstreamHeaders(['Authorization', 'Bearer app'], { ...base, dropAuthorization: false, runnerKey: undefined })
  assert.deepEqual(kept.slice(0, 2), ['Authorization', 'Bearer app'])
  assert.ok(!kept.includes('X-Daytona-Authorization'))
})

test('SPEC §10 TRUSTED_PROXIES: a trusted peer\'s X-Forwarded-* are kept (For appended to); missing ones are set', { timeout: 5000 }, () => {
  const raw = ['X-Forwarded-For', '203.0.113.7', 'X-Forwarded-Host', 'app.example', 'X-Forwarded-Proto', 'https', 'X-Forwarded-For', '198.51.100.2']
  assert.deepEqual(buildUpstreamHeaders(raw, { ...base, trustForwarded: true }).slice(-6), [
    'X-Forwarded-Host', 'app.example', 'X-Forwarded-Proto', 'https', 'X-Forwarded-For', '203.0.113.7, 198.51.100.2, 10.0.0.9',
  ])
  assert.deepEqual(buildUpstreamHeaders(raw, base).slice(-6), [
    'X-Forwarded-Host', '3000-a.p.test', 'X-Forwarded-Proto', 'https', 'X-Forwarded-For', '10.0.0.9',
  ])
  assert.deepEqual(buildUpstreamHeaders([], { ...base, trustForwarded: true }).slice(-6), [
    'X-Forwarded-Host', '3000-a.p.test', 'X-Forwarded-Proto', 'https', 'X-Forwarded-For', '10.0.0.9',
  ])
})

test('SPEC §10 TRUSTED_PROXIES matching: IPv4, IPv6, IPv4-mapped IPv6, CIDR and single addresses', { timeout: 5000 }, () => {
  const t = new TrustedProxies(['10.0.0.0/8', '192.0.2.7', '2001:db8::/32', '::1'])
  for (const yes of ['10.1.2.3', '::ffff:10.1.2.3', '::FFFF:10.255.0.1', '192.0.2.7', '::ffff:192.0.2.7', '2001:db8::5', '2001:DB8:0:1::9', '::1']) assert.ok(t.isTrusted(yes), yes)
  for (const no of ['11.0.0.1', '::ffff:11.0.0.1', '192.0.2.8', '2001:db9::1', '::2', '127.0.0.1', '', undefined, 'not-an-ip']) assert.ok(!t.isTrusted(no), String(no))
  assert.ok(!new TrustedProxies([]).isTrusted('127.0.0.1'), 'empty: nobody')
  assert.ok(new TrustedProxies(['0.0.0.0/0']).isTrusted('::ffff:127.0.0.1'))
  for (const bad of ['10.0.0.0/33', '::/129', '10.0.0/8', 'example.com', '10.0.0.0/', '10.0.0.0/x', '1.2.3.4/08a']) assert.equal(parseTrustedProxy(bad), null, bad)
  assert.deepEqual(parseTrustedProxy('10.0.0.0/8'), { address: '10.0.0.0', family: 'ipv4', prefix: 8 })
})

test('WebSocket upgrades keep Upgrade and get Connection: Upgrade', { timeout: 5000 }, () => {
  const h = buildUpstreamHeaders(['Connection', 'Upgrade', 'Upgrade', 'websocket', 'Sec-WebSocket-Protocol', 'chat'], { ...base, upgrade: true })
  assert.deepEqual(h.slice(0, 2), ['Sec-WebSocket-Protocol', 'chat'])
  assert.deepEqual(h.slice(-4), ['Connection', 'Upgrade', 'Upgrade', 'websocket'])
})

test('SPEC §6: upstream Set-Cookie filtering', { timeout: 5000 }, () => {
  assert.equal(filterSetCookie('daytona-sandbox-auth-x=1; Path=/'), null)
  assert.equal(filterSetCookie('daytona-preview-page-accepted=true'), null)
  assert.equal(filterSetCookie('a=1; Domain=.p.test; Path=/; Secure'), 'a=1; Path=/; Secure')
  assert.equal(filterSetCookie('a=1; path=/; domain=p.test'), 'a=1; path=/')
  assert.equal(filterSetCookie('a=1; Path=/; SameSite=Strict; Max-Age=5'), 'a=1; Path=/; SameSite=Strict; Max-Age=5')
})

test('response: every name the gateway acts on is found whatever its case or length, the rest pass as sent', { timeout: 5000 }, () => {
  const names = ['TE', 'Trailer', 'Upgrade', 'KEEP-ALIVE', 'Proxy-Connection', 'Transfer-Encoding', 'Proxy-Authenticate', 'Proxy-Authorization', 'Access-Control-', 'access-control-max-age']
  const raw = [...names.flatMap((n) => [n, 'x']), 'Content-Encoding', 'gzip', 'Set-Cookie', 'daytona-sandbox-auth-1=s', 'ETag', '"e"'].map((s) => Buffer.from(s))
  const out = buildResponseHeaders(raw, { cors: ['Access-Control-Allow-Origin', 'https://a'], setCookie: undefined, locationPrefix: undefined }, 200)
  assert.deepEqual(out, ['Content-Encoding', 'gzip', 'ETag', '"e"', 'Access-Control-Allow-Origin', 'https://a'])
})

test('response: hop-by-hop removed, CORS replaced, Location prefixed for the toolbox', { timeout: 5000 }, () => {
  const raw = ['X-Early', '1', 'Connection', 'close, X-Hop, x-early', 'X-Hop', '1', 'Transfer-Encoding', 'chunked', 'Access-Control-Allow-Origin', '*', 'Location', '/files', 'X-App', 'y'].map((s) => Buffer.from(s))
  const out = buildResponseHeaders(raw, { cors: ['Access-Control-Allow-Origin', 'https://a', 'Vary', 'Origin'], setCookie: 'c=1', locationPrefix: '/toolbox/s1' }, 302)
  assert.deepEqual(out, ['Location', '/toolbox/s1/files', 'X-App', 'y', 'Access-Control-Allow-Origin', 'https://a', 'Vary', 'Origin', 'Set-Cookie', 'c=1'])
  const abs = buildResponseHeaders(['Location', 'https://x/y'].map((s) => Buffer.from(s)), { cors: null, setCookie: undefined, locationPrefix: '/toolbox/s1' }, 301)
  assert.deepEqual(abs, ['Location', 'https://x/y'])
  const loc = (v: string): string | undefined => buildResponseHeaders(['Location', v].map((x) => Buffer.from(x)), { cors: null, setCookie: undefined, locationPrefix: '/toolbox/s1' }, 302)[1]
  assert.equal(loc('/toolbox/s1/a'), '/toolbox/s1/a')
  assert.equal(loc('/toolbox/s1?x=1'), '/toolbox/s1?x=1')
  assert.equal(loc('/toolbox/s10/a'), '/toolbox/s1/toolbox/s10/a')
})
