import { test } from 'node:test'
import assert from 'node:assert/strict'
import { findQueryParam, hasDotSegment, removeQueryParam, splitTarget } from '../../src/routing/request-target.js'

test('SPEC §6: raw path and query kept byte for byte (Daytona TestRawParam_PreservesPercentEncoding cases)', { timeout: 5000 }, () => {
  const cases = ['/a%2Fb', '/a%20b', '/a+b', '/%E2%9C%93', '/a%252e', '/files/a%3Fb', '/x;y=1', '/%7Euser']
  for (const path of cases) {
    const t = splitTarget(`${path}?q=%2F&x=a+b&y=%20`)
    assert.ok(t)
    assert.equal(t.path, path)
    assert.equal(t.query, 'q=%2F&x=a+b&y=%20')
  }
})

test('absolute-form targets give their authority', { timeout: 5000 }, () => {
  assert.deepEqual(splitTarget('http://Other:80/p?q'), { path: '/p', query: 'q', hasQuery: true, authority: 'Other:80' })
  assert.deepEqual(splitTarget('http://h'), { path: '/', query: '', hasQuery: false, authority: 'h' })
  assert.equal(splitTarget('*'), null)
})

test('SPEC §3: the auth query parameter is cut, every other byte kept', { timeout: 5000 }, () => {
  const K = 'DAYTONA_SANDBOX_AUTH_KEY'
  assert.equal(removeQueryParam(`a=1&${K}=tok&b=%2F+x`, K), 'a=1&b=%2F+x')
  assert.equal(removeQueryParam(`${K}=tok`, K), '')
  assert.equal(removeQueryParam(`${K}X=1&a`, K), `${K}X=1&a`)
  assert.equal(findQueryParam(`a=1&${K}=t%2Bk`, K), 't+k')
  assert.equal(findQueryParam('a=1', K), undefined)
})

test('SPEC §6: dot segments refused, raw or encoded', { timeout: 5000 }, () => {
  for (const p of ['/..', '/a/../b', '/.', '/a/./b', '/%2e%2e/x', '/%2E%2e', '/.%2E/x', '/%2e', '/a%2F..%2Fb', '/a%5c..', '/a\\..\\b', '/x/..?']) {
    assert.equal(hasDotSegment(p.split('?')[0] as string), true, p)
  }
  for (const p of ['/', '/a.b', '/...', '/a/.well-known/x', '/%252e%252e', '/file.tar.gz', '/a%2Fb']) {
    assert.equal(hasDotSegment(p), false, p)
  }
})
