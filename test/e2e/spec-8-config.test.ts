/**
 * SPEC §8 — configuration: bad or missing required values stop start-up with a clear line naming
 * the key (non-zero exit), an empty variable is a value, the environment wins over a config file
 * (CONFIG_FILE=path), the embedded registry is not read in Daytona mode, and the committed files
 * under config/ set none of the configuration keys.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import net from 'node:net'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { FakeControlPlane } from '../fakes/control-plane.js'
import { FakeRunner } from '../fakes/runner.js'
import { REPO_ROOT, runGatewayToExit, startGateway, tempDir } from '../helpers/gateway.js'
import type { RunResult } from '../helpers/gateway.js'
import { freePort, newId, request } from '../helpers/http.js'
import { assertGatewayError, echoOf } from '../helpers/assertions.js'

const T = { timeout: 30_000 }

/** SPEC §8 environment names (plus the contract's extras). */
const CONFIG_KEYS = [
  'PROXY_PORT', 'PROXY_PROTOCOL', 'PROXY_API_KEY', 'DAYTONA_API_URL', 'METRICS_PORT', 'COOKIE_DOMAIN', 'ENABLE_TLS',
  'TLS_CERT_FILE', 'TLS_KEY_FILE', 'OIDC_CLIENT_ID', 'OIDC_CLIENT_SECRET', 'OIDC_DOMAIN', 'OIDC_PUBLIC_DOMAIN', 'OIDC_AUDIENCE',
  'REDIS_HOST', 'REDIS_PORT', 'REDIS_USERNAME', 'REDIS_PASSWORD', 'REDIS_TLS', 'TOOLBOX_ONLY_MODE', 'PREVIEW_WARNING_ENABLED',
  'SHUTDOWN_TIMEOUT_SEC', 'API_CLIENT_TIMEOUT_SEC', 'PROXY_DOMAIN', 'PROXY_PUBLIC_PORT', 'UPSTREAM_TIMEOUT_SEC',
  'CORS_ALLOWED_ORIGINS', 'PROXY_BIND', 'SESSION_SECRET', 'LOG_LEVEL', 'SANDBOXES_FILE', 'CONFIG_FILE',
]

function linesNaming(r: RunResult, key: string): string[] {
  return r.output.split('\n').filter((l) => l.includes(key))
}

function assertStartupRefused(r: RunResult, key: string): void {
  assert.equal(r.timedOut, false, `the gateway stopped on its own (it kept running):\n${r.output}`)
  assert.ok(r.code !== 0 && r.code !== null, `non-zero exit (got code ${r.code}, signal ${r.signal}):\n${r.output}`)
  assert.ok(linesNaming(r, key).length >= 1, `a line names ${key}:\n${r.output}`)
}

describe('SPEC §8 configuration errors stop start-up with a line naming the key', () => {
  const api = 'http://127.0.0.1:9'

  test('DAYTONA_API_URL set, PROXY_API_KEY missing', T, async () => {
    const r = await runGatewayToExit({ DAYTONA_API_URL: api, PROXY_DOMAIN: 'preview.test' })
    assertStartupRefused(r, 'PROXY_API_KEY')
  })

  test('DAYTONA_API_URL set, PROXY_API_KEY empty (an empty required key is an error)', T, async () => {
    const r = await runGatewayToExit({ DAYTONA_API_URL: api, PROXY_API_KEY: '', PROXY_DOMAIN: 'preview.test' })
    assertStartupRefused(r, 'PROXY_API_KEY')
  })

  test('empty DAYTONA_API_URL is an error, not embedded mode', T, async () => {
    const r = await runGatewayToExit({ DAYTONA_API_URL: '', PROXY_API_KEY: 'k', PROXY_DOMAIN: 'preview.test' })
    assertStartupRefused(r, 'DAYTONA_API_URL')
  })

  test('DAYTONA_API_URL that is not a URL', T, async () => {
    const r = await runGatewayToExit({ DAYTONA_API_URL: 'not a url', PROXY_API_KEY: 'k', PROXY_DOMAIN: 'preview.test' })
    assertStartupRefused(r, 'DAYTONA_API_URL')
  })

  for (const bad of ['abc', '70000', '-1', '']) {
    test(`bad PROXY_PORT ${JSON.stringify(bad)}`, T, async () => {
      const r = await runGatewayToExit({ DAYTONA_API_URL: api, PROXY_API_KEY: 'k', PROXY_DOMAIN: 'preview.test', PROXY_PORT: bad })
      assertStartupRefused(r, 'PROXY_PORT')
    })
  }

  test('a port that cannot be listened on names its key: PROXY_PORT, or METRICS_PORT (not the public port)', T, async () => {
    const taken = net.createServer()
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve))
    const port = String((taken.address() as net.AddressInfo).port)
    try {
      const proxy = await runGatewayToExit({ PROXY_BIND: '127.0.0.1', PROXY_PORT: port })
      assertStartupRefused(proxy, 'PROXY_PORT')
      const metrics = await runGatewayToExit({ PROXY_BIND: '127.0.0.1', PROXY_PORT: String(await freePort()), METRICS_BIND: '127.0.0.1', METRICS_PORT: port })
      assertStartupRefused(metrics, 'METRICS_PORT')
      assert.deepEqual(linesNaming(metrics, 'PROXY_PORT'), [], `the public port is not blamed:\n${metrics.output}`)
    } finally {
      taken.close()
    }
  })

  test('every bad key is named, each on its own line', T, async () => {
    const r = await runGatewayToExit({ DAYTONA_API_URL: '', PROXY_API_KEY: 'k', PROXY_PORT: 'abc', UPSTREAM_TIMEOUT_SEC: 'soon', PROXY_DOMAIN: 'preview.test' })
    assertStartupRefused(r, 'PROXY_PORT')
    const port = linesNaming(r, 'PROXY_PORT')
    const timeout = linesNaming(r, 'UPSTREAM_TIMEOUT_SEC')
    const url = linesNaming(r, 'DAYTONA_API_URL')
    assert.ok(port.length >= 1 && timeout.length >= 1 && url.length >= 1, r.output)
    assert.ok(!port.some((l) => timeout.includes(l)), 'PROXY_PORT and UPSTREAM_TIMEOUT_SEC on separate lines')
  })

  test('a configuration error prints no stack trace and no secret value', T, async () => {
    const secret = 'pk-SECRET-config-3c4d5e6f'
    const r = await runGatewayToExit({ DAYTONA_API_URL: api, PROXY_API_KEY: secret, PROXY_PORT: 'abc', PROXY_DOMAIN: 'preview.test' })
    assertStartupRefused(r, 'PROXY_PORT')
    assert.ok(!r.output.includes(secret), `the API key is not printed:\n${r.output}`)
    assert.doesNotMatch(r.output, /^\s+at .+:\d+:\d+\)?$/m, `no stack trace:\n${r.output}`)
  })
})

describe('SPEC §8 the environment wins over a config file (CONFIG_FILE=path)', () => {
  let cp: FakeControlPlane
  let runner: FakeRunner
  let stop: () => Promise<unknown> = async () => {}
  let port = 0
  const sandboxId = newId('cfg')

  before(async () => {
    cp = await FakeControlPlane.start()
    runner = await FakeRunner.start()
    cp.addSandbox(sandboxId, { public: true, runner: { id: 'r-cfg', proxyUrl: runner.url, apiUrl: runner.url, apiKey: 'rk-cfg' } })
    const dir = tempDir()
    const file = join(dir, 'gateway.json')
    writeFileSync(file, JSON.stringify({
      PROXY_DOMAIN: 'file.test',
      DAYTONA_API_URL: cp.url,
      PROXY_API_KEY: 'test-api-key',
      UPSTREAM_TIMEOUT_SEC: '1',
    }))
    const gw = await startGateway({ env: { CONFIG_FILE: file, PROXY_DOMAIN: 'env.test', LOG_LEVEL: 'info' }, healthHost: 'env.test' })
    port = gw.port
    stop = () => gw.stop()
  })
  after(async () => { await stop(); await runner?.close(); await cp?.close() })

  test('PROXY_DOMAIN from the environment wins; the file\'s domain is not served', T, async () => {
    assert.equal((await request({ port, host: 'env.test', path: '/health' })).status, 200)
    assertGatewayError(await request({ port, host: 'file.test', path: '/health' }), 404, 'INVALID_HOST')
  })

  test('keys only the file sets are used (DAYTONA_API_URL, PROXY_API_KEY, UPSTREAM_TIMEOUT_SEC=1)', T, async () => {
    const echo = echoOf(await request({ port, host: `3000-${sandboxId}.env.test`, path: '/x' }))
    assert.equal(echo.sandboxId, sandboxId)
    assert.equal(cp.calls(`/preview/${sandboxId}/public`)[0]?.headers.authorization, 'Bearer test-api-key')
    const started = Date.now()
    const r = await request({ port, host: `3000-${sandboxId}.env.test`, path: '/hang', timeoutMs: 15_000 })
    assertGatewayError(r, 504, 'UPSTREAM_TIMEOUT')
    assert.ok(Date.now() - started < 8000, 'the file\'s 1 s upstream timeout applies')
  })
})

describe('SPEC §8 the embedded registry is not read when DAYTONA_API_URL is set', () => {
  test('a sandbox only the registry knows is unknown in Daytona mode', T, async (t) => {
    const cp = await FakeControlPlane.start()
    const runner = await FakeRunner.start()
    const dir = tempDir()
    const registry = join(dir, 'sandboxes.json')
    writeFileSync(registry, JSON.stringify({ sandboxes: { 'emb-only': { public: true, ports: { '3000': runner.url } } } }))
    const gw = await startGateway({ env: { DAYTONA_API_URL: cp.url, PROXY_API_KEY: 'test-api-key', PROXY_DOMAIN: 'preview.test', SANDBOXES_FILE: registry } })
    t.after(async () => { await gw.stop(); await runner.close(); await cp.close() })
    const r = await request({ port: gw.port, host: '3000-emb-only.preview.test', path: '/' })
    assertGatewayError(r, 401, 'UNAUTHORIZED')
    assert.ok(cp.calls('/preview/emb-only/public').length >= 1, 'the control plane was asked')
    assert.equal(runner.requests().length, 0)
  })
})

describe('SPEC §8 committed files under config/ set none of the configuration keys', () => {
  test('no committed (or to-be-committed, not ignored) config/*.json sets a key of the table', T, () => {
    let tracked: string[]
    try {
      tracked = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', 'config'], { cwd: REPO_ROOT, encoding: 'utf8' }).split('\n').filter((f) => f.endsWith('.json'))
    } catch {
      tracked = []
    }
    for (const f of tracked) {
      const parsed = JSON.parse(readFileSync(join(REPO_ROOT, f), 'utf8')) as unknown
      assert.ok(parsed !== null && typeof parsed === 'object')
      const keys = Object.keys(parsed as Record<string, unknown>)
      const set = keys.filter((k) => CONFIG_KEYS.includes(k))
      assert.deepEqual(set, [], `${f} sets ${set.join(', ')}`)
    }
  })
})
