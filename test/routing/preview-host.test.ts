import { test } from 'node:test'
import assert from 'node:assert/strict'
import { parseHost, parsePreviewLabel } from '../../src/routing/preview-host.js'

const D = ['preview.example.com']

test('SPEC §1: preview host forms with PROXY_DOMAIN', { timeout: 5000 }, () => {
  const cases: Array<[string, unknown]> = [
    ['3000-abc.preview.example.com', { kind: 'preview', port: 3000, label: 'abc', baseDomain: 'preview.example.com' }],
    ['3000-my-sandbox-1.preview.example.com', { kind: 'preview', port: 3000, label: 'my-sandbox-1', baseDomain: 'preview.example.com' }],
    ['3000-ABC.Preview.Example.COM:443', { kind: 'preview', port: 3000, label: 'ABC', baseDomain: 'preview.example.com' }],
    ['3000-abc.preview.example.com.', { kind: 'preview', port: 3000, label: 'abc', baseDomain: 'preview.example.com' }],
    ['1-a_b.preview.example.com', { kind: 'preview', port: 1, label: 'a_b', baseDomain: 'preview.example.com' }],
    ['65535-x.preview.example.com', { kind: 'preview', port: 65535, label: 'x', baseDomain: 'preview.example.com' }],
    ['preview.example.com', { kind: 'base', baseDomain: 'preview.example.com' }],
    ['PREVIEW.example.com:4000', { kind: 'base', baseDomain: 'preview.example.com' }],
    ['65536-x.preview.example.com', { kind: 'invalid' }],
    ['0-x.preview.example.com', { kind: 'invalid' }],
    ['abc-x.preview.example.com', { kind: 'invalid' }],
    ['3000-.preview.example.com', { kind: 'invalid' }],
    ['3000-a.b.preview.example.com', { kind: 'invalid' }],
    ['3000-a%2e.preview.example.com', { kind: 'invalid' }],
    ['3000-abc.other.com', { kind: 'invalid' }],
    ['3000-abc.evilpreview.example.com', { kind: 'invalid' }],
    ['', { kind: 'invalid' }],
  ]
  for (const [host, want] of cases) assert.deepEqual(parseHost(host, D), want, host)
})

test('SPEC §1: several PROXY_DOMAINs each have their base', { timeout: 5000 }, () => {
  const m = parseHost('8080-x.b.test', ['a.test', 'b.test'])
  assert.deepEqual(m, { kind: 'preview', port: 8080, label: 'x', baseDomain: 'b.test' })
})

test('without PROXY_DOMAIN the first label is tried', { timeout: 5000 }, () => {
  assert.deepEqual(parseHost('3000-demo.localhost:4000', []), { kind: 'preview', port: 3000, label: 'demo', baseDomain: 'localhost' })
  assert.deepEqual(parseHost('localhost:4000', []), { kind: 'base', baseDomain: 'localhost' })
  assert.deepEqual(parseHost('3000-.localhost', []), { kind: 'invalid' })
  assert.deepEqual(parseHost('www.example.com', []), { kind: 'base', baseDomain: 'www.example.com' })
})

test('label split at the first dash', { timeout: 5000 }, () => {
  assert.deepEqual(parsePreviewLabel('3000-a-b-c'), { port: 3000, label: 'a-b-c' })
  assert.equal(parsePreviewLabel('-abc'), null)
  assert.equal(parsePreviewLabel('123456-abc'), null)
})

test('SPEC §1: a Host that is not `name[:port]` is no host of ours (no redirect or X-Forwarded-Host built from it)', { timeout: 5000 }, () => {
  for (const host of [
    '3000-abc.preview.example.com:@evil.example',
    '3000-abc.preview.example.com:evil',
    '3000-abc.preview.example.com:99999',
    '3000-abc.preview.example.com:123456',
    '3000-abc.preview.example.com:80:80',
    '3000-abc.preview.example.com/x',
    '3000-abc.preview.example.com\\x',
    '3000-abc.preview.example.com@evil.example',
    '3000-abc.preview.example.com ',
    'preview.example.com:@evil.example',
    '[::1]:@evil',
    '[::1]x',
    '[evil.example]',
  ]) {
    assert.deepEqual(parseHost(host, D), { kind: 'invalid' }, host)
    assert.deepEqual(parseHost(host, []), { kind: 'invalid' }, `${host} without PROXY_DOMAIN`)
  }
  assert.deepEqual(parseHost('3000-abc.preview.example.com:', D), { kind: 'preview', port: 3000, label: 'abc', baseDomain: 'preview.example.com' })
  assert.deepEqual(parseHost('3000-abc.preview.example.com.:65535', D), { kind: 'preview', port: 3000, label: 'abc', baseDomain: 'preview.example.com' })
  assert.deepEqual(parseHost('[::1]:4000', []), { kind: 'base', baseDomain: '[::1]' })
  assert.deepEqual(parseHost('127.0.0.1:4000', []), { kind: 'base', baseDomain: '127.0.0.1' })
})

test('one PROXY_DOMAIN inside another: the longest that matches is the host\'s, in either order', { timeout: 5000 }, () => {
  for (const domains of [['preview.test', 'eu.preview.test'], ['eu.preview.test', 'preview.test']]) {
    assert.deepEqual(parseHost('3000-id.eu.preview.test', domains), { kind: 'preview', port: 3000, label: 'id', baseDomain: 'eu.preview.test' }, domains.join())
    assert.deepEqual(parseHost('3000-id.preview.test', domains), { kind: 'preview', port: 3000, label: 'id', baseDomain: 'preview.test' }, domains.join())
    assert.deepEqual(parseHost('eu.preview.test', domains), { kind: 'base', baseDomain: 'eu.preview.test' }, domains.join())
    assert.deepEqual(parseHost('preview.test', domains), { kind: 'base', baseDomain: 'preview.test' }, domains.join())
    assert.deepEqual(parseHost('3000-id.x.eu.preview.test', domains), { kind: 'invalid' }, domains.join())
  }
})
