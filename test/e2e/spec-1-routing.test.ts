/**
 * SPEC §1 — which requests the gateway accepts: preview hosts `{port}-{id}.{baseDomain}`, base
 * domain routes, PROXY_DOMAIN (comma list) matching, TOOLBOX_ONLY_MODE, and the embedded
 * control plane without PROXY_DOMAIN.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { startStack } from '../helpers/stack.js'
import type { Stack } from '../helpers/stack.js'
import { assertGatewayError, echoHeader, echoOf } from '../helpers/assertions.js'
import { startGateway, tempDir } from '../helpers/gateway.js'
import { newId, request, waitUntil } from '../helpers/http.js'
import { FakeRunner } from '../fakes/runner.js'

const T = { timeout: 20_000 }

describe('SPEC §1 preview hosts and base-domain routes (PROXY_DOMAIN=preview.test,alt.test)', () => {
  let s: Stack
  before(async () => { s = await startStack({ PROXY_DOMAIN: 'preview.test,alt.test' }) })
  after(async () => { await s?.close() })

  test('GET /health on the base domain answers {"status":"ok","version":…}', T, async () => {
    const r = await s.send('preview.test', '/health')
    assert.equal(r.status, 200)
    assert.match(r.headers['content-type'] ?? '', /^application\/json/)
    const body = r.json() as Record<string, unknown>
    assert.equal(body.status, 'ok')
    assert.equal(typeof body.version, 'string')
    assert.ok((body.version as string).length > 0)
  })

  test('base-domain matching ignores case, a :port suffix and one trailing dot; every PROXY_DOMAIN works', T, async () => {
    for (const host of ['PREVIEW.TEST', 'preview.test:4000', 'preview.test.', 'Preview.Test.:8443', 'alt.test', 'ALT.test:80']) {
      const r = await s.send(host, '/health')
      assert.equal(r.status, 200, `Host: ${host}`)
    }
  })

  test('a preview host is proxied to its sandbox and port, whatever the case, :port suffix or trailing dot', T, async () => {
    const sbx = s.sandbox({ public: true })
    for (const host of [`3000-${sbx.id}.preview.test`, `3000-${sbx.id}.PREVIEW.TEST`, `3000-${sbx.id}.preview.test:443`, `3000-${sbx.id}.preview.test.`, `3000-${sbx.id}.alt.test`]) {
      const echo = echoOf(await s.send(host, '/echo?x=1'))
      assert.equal(echo.url, `/sandboxes/${sbx.id}/toolbox/proxy/3000/echo?x=1`, `Host: ${host}`)
    }
  })

  test('the label splits at its first "-": ids may contain "-" and "_" and need not be UUIDs', T, async () => {
    const id = `my_sand-box-${newId('x')}`
    s.cp.addSandbox(id, { public: true, runner: s.runnerInfo })
    const echo = echoOf(await s.send(`8080-${id}.preview.test`, '/'))
    assert.equal(echo.sandboxId, id)
    assert.equal(echo.port, '8080')
    assert.ok(s.cp.calls(`/preview/${id}/public`).length >= 1, 'the public flag of the whole id was asked')
  })

  test('ports 1 and 65535 are preview ports', T, async () => {
    const sbx = s.sandbox({ public: true })
    assert.equal(echoOf(await s.send(`1-${sbx.id}.preview.test`, '/')).port, '1')
    assert.equal(echoOf(await s.send(`65535-${sbx.id}.preview.test`, '/')).port, '65535')
  })

  test('hosts that are not preview hosts of this gateway get 404 INVALID_HOST and are never proxied', T, async () => {
    const sbx = s.sandbox({ public: true })
    const id = sbx.id
    const bad = [
      `0-${id}.preview.test`, // port out of range
      `65536-${id}.preview.test`,
      `99999-${id}.preview.test`,
      `abc-${id}.preview.test`, // non-numeric port
      `-${id}.preview.test`, // empty port
      `3000-.preview.test`, // empty id
      `3000${id}.preview.test`, // no "-"
      `3000-${id}~x.preview.test`, // character outside [A-Za-z0-9_-]
      `3000-${id}!.preview.test`,
      `3000-${id}.extra.preview.test`, // two labels in front of the base domain
      `3000-${id}.other.test`, // another domain
      `3000-${id}.xpreview.test`, // suffix match that is not a label boundary
      `3000-${id}.preview.test.evil.example`,
      `3000-${id}.preview.test..`, // two trailing dots
      `3000-${id}.preview.test:@evil.example`, // a "port" that is not one: URL parsers read evil.example
      `3000-${id}.preview.test:evil`,
      `3000-${id}.preview.test:99999`,
      'localhost',
    ]
    for (const host of bad) {
      const r = await s.send(host, '/echo')
      assertGatewayError(r, 404, 'INVALID_HOST')
    }
    assert.deepEqual(s.runner.requests(id).map((r) => r.url), [], 'nothing reached the runner')
    assert.deepEqual(s.cp.callsMentioning(id).map((c) => c.url), [], 'no control-plane call for a host that is not a preview host')
  })

  test('any other base-domain path is 404 NOT_FOUND (/metrics, /toolbox without an id, /)', T, async () => {
    for (const path of ['/', '/metrics', '/toolbox', '/toolbox/', '/nope', '/callbackx']) {
      const r = await s.send('preview.test', path)
      assertGatewayError(r, 404, 'NOT_FOUND')
    }
  })
})

describe('SPEC §1 TOOLBOX_ONLY_MODE=true', () => {
  let s: Stack
  before(async () => { s = await startStack({ TOOLBOX_ONLY_MODE: 'true' }) })
  after(async () => { await s?.close() })

  test('only port 2280 is served on preview hosts; other ports are 404 and not proxied', T, async () => {
    const sbx = s.sandbox({ public: true })
    const ok = echoOf(await s.send(`2280-${sbx.id}.preview.test`, '/x', { headers: { 'x-daytona-preview-token': sbx.token } }))
    assert.equal(ok.port, '2280')
    for (const port of [3000, 22222, 33333]) {
      const r = await s.send(`${port}-${sbx.id}.preview.test`, '/x', { headers: { 'x-daytona-preview-token': sbx.token } })
      assert.equal(r.status, 404, `port ${port}`)
      assert.equal((r.json() as Record<string, unknown>).source, 'DAYTONA_PROXY')
    }
    assert.deepEqual(s.runner.requests(sbx.id).map((r) => r.port), ['2280'])
  })
})

describe('SPEC §1 / CONTRACT embedded control plane without PROXY_DOMAIN', () => {
  let runner: FakeRunner
  let gwPort = 0
  let stop: () => Promise<unknown> = async () => {}
  let registryPath = ''
  const registry = (extraToken: boolean): string => JSON.stringify({
    sandboxes: {
      'emb-pub': { public: true, ports: { '8080': runner.url } },
      'emb-priv': { public: false, previewTokens: extraToken ? ['emb-token', 'emb-token-2'] : ['emb-token'], ports: { '8080': runner.url } },
      'emb-runner': { public: false, previewTokens: ['emb-t1'], runner: { id: 'r1', proxyUrl: runner.url, apiKey: 'emb-runner-key' } },
    },
  }, null, 2)

  before(async () => {
    runner = await FakeRunner.start()
    const dir = tempDir()
    registryPath = join(dir, 'sandboxes.json')
    writeFileSync(registryPath, registry(false))
    const gw = await startGateway({ env: { SANDBOXES_FILE: registryPath, SESSION_SECRET: 'e2e-session-secret-0123456789abcdef', LOG_LEVEL: 'info' } })
    gwPort = gw.port
    stop = () => gw.stop()
  })
  after(async () => { await stop(); await runner?.close() })

  test('GET /health with Host: localhost', T, async () => {
    const r = await request({ port: gwPort, host: 'localhost', path: '/health' })
    assert.equal(r.status, 200)
    assert.equal((r.json() as Record<string, unknown>).status, 'ok')
  })

  test('a port mapped to a plain URL is forwarded as {url}{path}?{query}, under any base domain', T, async () => {
    for (const host of ['8080-emb-pub.localhost', '8080-emb-pub.anything.example']) {
      const echo = echoOf(await request({ port: gwPort, host, path: '/a%2Fb/c?q=%20+x' }))
      assert.equal(echo.url, '/a%2Fb/c?q=%20+x', `Host: ${host}`)
    }
  })

  test('a private embedded sandbox needs its preview token, which is not forwarded', T, async () => {
    const denied = await request({ port: gwPort, host: '8080-emb-priv.localhost', path: '/' })
    assertGatewayError(denied, 401, 'UNAUTHORIZED')
    const echo = echoOf(await request({ port: gwPort, host: '8080-emb-priv.localhost', path: '/', headers: { 'x-daytona-preview-token': 'emb-token' } }))
    assert.deepEqual(echoHeader(echo, 'x-daytona-preview-token'), [])
  })

  test('a sandbox with a runner is forwarded Daytona-style with X-Daytona-Authorization', T, async () => {
    const echo = echoOf(await request({ port: gwPort, host: '3000-emb-runner.localhost', path: '/p?x=1', headers: { 'x-daytona-preview-token': 'emb-t1' } }))
    assert.equal(echo.url, '/sandboxes/emb-runner/toolbox/proxy/3000/p?x=1')
    assert.deepEqual(echoHeader(echo, 'x-daytona-authorization'), ['Bearer emb-runner-key'])
  })

  test('the registry file is re-read on change without a restart', T, async () => {
    const before = await request({ port: gwPort, host: '8080-emb-priv.localhost', path: '/', headers: { 'x-daytona-preview-token': 'emb-token-2' } })
    assert.equal(before.status, 401)
    writeFileSync(registryPath, registry(true))
    await waitUntil(async () => {
      const r = await request({ port: gwPort, host: '8080-emb-priv.localhost', path: '/', headers: { 'x-daytona-preview-token': 'emb-token-2' } })
      return r.status === 200
    }, { timeoutMs: 10_000, intervalMs: 200, message: 'new token accepted after the registry changed' })
  })
})
