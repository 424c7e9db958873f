/**
 * One contract suite, run against both control planes (hono's common.case.test style): the
 * embedded file-backed one and the HTTP client pointed at a fake Daytona API over real HTTP.
 */
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { EmbeddedControlPlane } from '../../src/control-plane/embedded.js'
import { HttpControlPlane } from '../../src/control-plane/http.js'
import { mintShareLink, shareLinkKey } from '../../src/control-plane/share-link.js'
import type { ControlPlane } from '../../src/control-plane/types.js'
import { GatewayError } from '../../src/errors/codes.js'
import { FakeControlPlane } from '../fakes/control-plane.js'

interface World {
  readonly cp: ControlPlane
  /** A token host for (sandboxId, port), plus one that is revoked and one for another port. */
  readonly signed: { readonly valid: string; readonly revoked: string }
  close(): Promise<void>
}

const RUNNER = { id: 'r1', proxyUrl: 'http://127.0.0.1:9', apiUrl: 'http://127.0.0.1:9', apiKey: 'rk' }

async function embeddedWorld(): Promise<World> {
  const dir = mkdtempSync(join(tmpdir(), 'cp-'))
  const file = join(dir, 'sandboxes.json')
  const secret = 's'.repeat(32)
  const key = shareLinkKey(secret)
  const valid = mintShareLink(key, 'priv', 3000, 600)
  const revoked = mintShareLink(key, 'priv', 3000, 600)
  writeFileSync(file, JSON.stringify({
    sandboxes: {
      pub: { public: true, runner: { proxyUrl: RUNNER.proxyUrl, apiKey: RUNNER.apiKey } },
      priv: { previewTokens: ['tok-1'], accessTokens: ['user-1'], runner: { proxyUrl: RUNNER.proxyUrl, apiKey: RUNNER.apiKey } },
    },
    revokedLinks: [revoked.linkId],
  }))
  const cp = new EmbeddedControlPlane({ file, secret })
  return { cp, signed: { valid: valid.token, revoked: revoked.token }, close: () => cp.close() }
}

async function httpWorld(): Promise<World> {
  const fake = await FakeControlPlane.start()
  fake.addSandbox('pub', { public: true, runner: RUNNER })
  fake.addSandbox('priv', { previewTokens: ['tok-1'], bearers: ['user-1'], runner: RUNNER })
  fake.addSignedToken('signedvalid1', { sandboxId: 'priv', port: 3000 })
  fake.addSignedToken('signedrevoked1', { sandboxId: 'priv', port: 3000, revoked: true })
  const cp = new HttpControlPlane({ apiUrl: fake.url, apiKey: fake.apiKey, timeoutMs: 2000 })
  return { cp, signed: { valid: 'signedvalid1', revoked: 'signedrevoked1' }, close: async () => { await cp.close(); await fake.close() } }
}

for (const [name, make] of [['embedded', embeddedWorld], ['http', httpWorld]] as const) {
  describe(`ControlPlane contract: ${name}`, { timeout: 20_000 }, () => {
    let w: World
    before(async () => { w = await make() })
    after(async () => { await w.close() })

    test('public flag: true for public, false for private and unknown', async () => {
      assert.equal(await w.cp.isPublic('pub'), true)
      assert.equal(await w.cp.isPublic('priv'), false)
      assert.equal(await w.cp.isPublic('nope'), false)
    })
    test('preview tokens', async () => {
      assert.equal(await w.cp.validatePreviewToken('priv', 'tok-1'), true)
      assert.equal(await w.cp.validatePreviewToken('priv', 'tok-2'), false)
      assert.equal(await w.cp.validatePreviewToken('nope', 'tok-1'), false)
    })
    test('user bearer access', async () => {
      assert.equal(await w.cp.hasAccess('priv', 'user-1'), true)
      assert.equal(await w.cp.hasAccess('priv', 'user-2'), false)
    })
    test('signed tokens: valid → id, revoked/other port/garbage → null', async () => {
      assert.equal(await w.cp.sandboxIdFromSignedToken(w.signed.valid, 3000), 'priv')
      assert.equal(await w.cp.sandboxIdFromSignedToken(w.signed.valid, 3001), null)
      assert.equal(await w.cp.sandboxIdFromSignedToken(w.signed.revoked, 3000), null)
      assert.equal(await w.cp.sandboxIdFromSignedToken('garbage', 3000), null)
    })
    test('runner by sandbox: proxyUrl and apiKey; unknown → null', async () => {
      const r = await w.cp.runnerBySandbox('priv')
      assert.equal(r?.proxyUrl, RUNNER.proxyUrl)
      assert.equal(r?.apiKey, RUNNER.apiKey)
      assert.equal(await w.cp.runnerBySandbox('nope'), null)
    })
    test('last activity never throws', async () => {
      await w.cp.postLastActivity('priv')
      await w.cp.postLastActivity('nope')
    })
  })
}

describe('HttpControlPlane failure policy (SPEC §2)', { timeout: 30_000 }, () => {
  let fake: FakeControlPlane
  before(async () => { fake = await FakeControlPlane.start() })
  after(async () => { await fake.close() })

  test('sends Authorization: Bearer PROXY_API_KEY, and the user bearer only for /access', async () => {
    fake.reset()
    fake.addSandbox('a1', { bearers: ['u'] })
    const cp = new HttpControlPlane({ apiUrl: fake.url, apiKey: fake.apiKey, timeoutMs: 2000 })
    await cp.isPublic('a1')
    await cp.hasAccess('a1', 'u')
    assert.equal(fake.calls('/preview/a1/public')[0]?.headers.authorization, `Bearer ${fake.apiKey}`)
    assert.equal(fake.calls('/preview/a1/access')[0]?.headers.authorization, 'Bearer u')
    await cp.close()
  })

  test('5xx is tried 3 times then thrown as CONTROL_PLANE_UNAVAILABLE; 4xx is one definite no', async () => {
    fake.reset()
    fake.addSandbox('f1')
    fake.script('/preview/f1/public', [{ status: 500 }], { repeatLast: true })
    const cp = new HttpControlPlane({ apiUrl: fake.url, apiKey: fake.apiKey, timeoutMs: 2000 })
    await assert.rejects(cp.isPublic('f1'), (e: unknown) => e instanceof GatewayError && e.code === 'CONTROL_PLANE_UNAVAILABLE')
    assert.equal(fake.calls('/preview/f1/public').length, 3)
    fake.script('/preview/f1/validate/x', [{ status: 403 }])
    assert.equal(await cp.validatePreviewToken('f1', 'x'), false)
    assert.equal(fake.calls('/preview/f1/validate/x').length, 1)
    for (const status of [408, 429]) {
      fake.script(`/preview/f1/validate/s${status}`, [{ status }, { status: 200, body: true }])
      assert.equal(await cp.validatePreviewToken('f1', `s${status}`), true)
    }
    await cp.close()
  })

  test('an answer that is neither yes nor no (a redirect, a 2xx saying neither) is a failure, never a cached "no"', async () => {
    fake.reset()
    fake.addSandbox('m1', { runner: RUNNER })
    const cp = new HttpControlPlane({ apiUrl: fake.url, apiKey: fake.apiKey, timeoutMs: 2000 })
    const unavailable = (e: unknown): boolean => e instanceof GatewayError && e.code === 'CONTROL_PLANE_UNAVAILABLE'
    for (const [i, answer] of [{ status: 200, rawBody: 'yes' }, { status: 200, body: {} }, { status: 302, headers: { location: '/elsewhere' } }, { status: 204 }].entries()) {
      fake.script(`/preview/m1/validate/t${i}`, [answer])
      await assert.rejects(cp.validatePreviewToken('m1', `t${i}`), unavailable, JSON.stringify(answer))
      fake.script('/runners/by-sandbox/m1', [answer])
      await assert.rejects(cp.runnerBySandbox('m1'), unavailable, `runner: ${JSON.stringify(answer)}`)
    }
    fake.script('/preview/m1/validate/f', [{ status: 200, body: false }])
    assert.equal(await cp.validatePreviewToken('m1', 'f'), false, '200 false is a no')
    fake.script('/runners/by-sandbox/m1', [{ status: 404 }])
    assert.equal(await cp.runnerBySandbox('m1'), null, '404: no runner')
    await cp.close()
  })

  test('a hung API times out on our own timer, per try', async () => {
    fake.reset()
    fake.addSandbox('h1')
    fake.script('/preview/h1/public', [{ hang: true }], { repeatLast: true })
    const cp = new HttpControlPlane({ apiUrl: fake.url, apiKey: fake.apiKey, timeoutMs: 200 })
    const t0 = Date.now()
    await assert.rejects(cp.isPublic('h1'), GatewayError)
    const took = Date.now() - t0
    assert.ok(took >= 600 && took < 10_000, `took ${took} ms`)
    assert.equal(fake.calls('/preview/h1/public').length, 3)
    await cp.close()
  })

  test('a cancelled call stops at once and is not retried', async () => {
    fake.reset()
    fake.addSandbox('c1')
    fake.script('/preview/c1/public', [{ hang: true }], { repeatLast: true })
    const cp = new HttpControlPlane({ apiUrl: fake.url, apiKey: fake.apiKey, timeoutMs: 5000 })
    const ac = new AbortController()
    const p = cp.isPublic('c1', ac.signal)
    await fake.waitForCall((c) => c.path === '/preview/c1/public', 2000)
    ac.abort(new Error('gone'))
    await assert.rejects(p, (e: unknown) => !(e instanceof GatewayError))
    assert.equal(await fake.calls('/preview/c1/public')[0]?.settled, 'aborted')
    assert.equal(fake.calls('/preview/c1/public').length, 1)
    await cp.close()
  })
})
