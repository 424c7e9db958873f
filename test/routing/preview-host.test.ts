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
