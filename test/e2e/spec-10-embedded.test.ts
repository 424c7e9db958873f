/**
 * SPEC §10 on the embedded control plane (no Daytona): `npm run sandbox -- stop <id>` (the CLI,
 * run as `npm run sandbox` runs it) stops a sandbox of the registry file; with WAKE_ON_REQUEST a
 * visit shows the starting page and the gateway starts it (the file says `started` again), then
 * the app is served. The registry's `previewWarning` decides the warning page per sandbox.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { FakeRunner } from '../fakes/runner.js'
import { REPO_ROOT, emptyConfigPath, startGateway, tempDir } from '../helpers/gateway.js'
import type { GatewayProcess } from '../helpers/gateway.js'
import { request, waitUntil } from '../helpers/http.js'
import type { Reply } from '../helpers/http.js'
import { assertGatewayError, echoOf } from '../helpers/assertions.js'

const T = { timeout: 30_000 }
const NAV = { 'sec-fetch-mode': 'navigate', 'sec-fetch-dest': 'document', 'user-agent': 'Mozilla/5.0 (X11; Linux x86_64) Chrome/130.0', accept: 'text/html' }
const CLI = join(REPO_ROOT, 'dist', 'src', 'cli', 'sandbox.js')

describe('SPEC §10 embedded control plane: stop/start and per-sandbox warning', { timeout: 90_000 }, () => {
  let runner: FakeRunner
  let gw: GatewayProcess
  let registry = ''

  function cli(...args: string[]): { status: number | null; out: string } {
    const r = spawnSync(process.execPath, [CLI, ...args], {
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH ?? '', SANDBOXES_FILE: registry, CONFIG_FILE: emptyConfigPath() },
      encoding: 'utf8',
      timeout: 10_000,
    })
    return { status: r.status, out: r.stdout + r.stderr }
  }

  function visit(id: string, path: string, headers: Record<string, string> = NAV): Promise<Reply> {
    return request({ port: gw.port, host: `3000-${id}.preview.test`, path, headers })
  }

  function fileState(id: string): unknown {
    return (JSON.parse(readFileSync(registry, 'utf8')) as { sandboxes: Record<string, { state?: unknown }> }).sandboxes[id]?.state
  }

  before(async () => {
    runner = await FakeRunner.start()
    registry = join(tempDir(), 'sandboxes.json')
    writeFileSync(registry, JSON.stringify({
      sandboxes: {
        sleepy: { public: true, previewWarning: false, ports: { '3000': runner.url } },
        warned: { public: true, ports: { '3000': runner.url } },
      },
    }, null, 2))
    gw = await startGateway({ env: { SANDBOXES_FILE: registry, PROXY_DOMAIN: 'preview.test', WAKE_ON_REQUEST: 'true', PREVIEW_WARNING_ENABLED: 'true', SESSION_SECRET: 'embedded-wake-test-secret-0123456789abcdef' } })
  })
  after(async () => { await gw?.stop(); await runner?.close() })

  test('the registry decides the warning per sandbox (default: shown)', T, async () => {
    echoOf(await visit('sleepy', '/echo'))
    const page = await visit('warned', '/echo')
    assert.equal(page.status, 200)
    assert.match(page.text, /You are about to open a preview/)
  })

  test('stop with the CLI, visit: the starting page, the file says started again, then the app', T, async () => {
    const stop = cli('stop', 'sleepy')
    assert.equal(stop.status, 0, stop.out)
    assert.equal(fileState('sleepy'), 'stopped')
    // The gateway re-reads the file within a second.
    // A navigation and a JSON visit at the same moment: both inside the embedded start (1.5 s),
    // however slowly the machine runs between probes.
    const [first, json] = await waitUntil(async () => {
      const both = await Promise.all([visit('sleepy', '/echo/a'), visit('sleepy', '/echo/b', { accept: 'application/json' })])
      return both[0].status === 503 ? both : undefined
    }, { timeoutMs: 10_000, intervalMs: 100, message: 'the stopped sandbox is seen as stopped' })
    assert.equal(first.headers['x-preview-error'], 'SANDBOX_STARTING')
    assert.match(first.text, /http-equiv="refresh"/)
    assertGatewayError(json, 503, 'SANDBOX_STARTING')
    const served = await waitUntil(async () => {
      const r = await visit('sleepy', '/echo/c')
      return r.status === 200 ? r : undefined
    }, { timeoutMs: 15_000, intervalMs: 200, message: 'the app is served once the embedded start is done' })
    assert.equal(echoOf(served).rest, '/echo/c')
    assert.equal(fileState('sleepy'), 'started', 'the start is written to the registry file')
  })

  test('the CLI refuses unknown sandboxes and states, and lists', T, () => {
    assert.equal(cli('stop', 'nope').status, 2)
    assert.equal(cli('state', 'sleepy', 'sleeping').status, 2)
    assert.equal(cli('frobnicate', 'sleepy').status, 2)
    const list = cli('list')
    assert.equal(list.status, 0)
    assert.match(list.out, /^sleepy\tstarted\tpublic/m)
  })
})
