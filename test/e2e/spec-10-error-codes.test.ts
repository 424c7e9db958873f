/**
 * SPEC §10 — error codes the Daytona SDK knows: gateway error bodies keep our `code` and add
 * `daytonaCode` (SANDBOX_NOT_STARTED 503, SANDBOX_NOT_FOUND 404, RUNNER_UNREACHABLE 502), and the
 * real @daytonaio/sdk 0.218 turns each into its own error class with a useful message.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { Daytona, DaytonaBadGatewayError, DaytonaError, DaytonaNotFoundError, DaytonaServiceUnavailableError } from '@daytonaio/sdk'
import { DOMAIN, startStack } from '../helpers/stack.js'
import type { SandboxHandle, Stack } from '../helpers/stack.js'
import { assertGatewayError } from '../helpers/assertions.js'
import { freePort, newId } from '../helpers/http.js'
import { rawExchange } from '../helpers/gateway.js'

const T = { timeout: 30_000 }
type Disposable = { [k: symbol]: () => Promise<void> }
const asyncDispose = (Symbol as unknown as { asyncDispose: symbol }).asyncDispose

interface Expected {
  readonly status: number
  readonly code: string
  readonly daytonaCode: string
  readonly errorClass: typeof DaytonaError
  readonly words: RegExp
}

describe('SPEC §10 daytonaCode through the real @daytonaio/sdk 0.218', () => {
  let s: Stack
  const clients: Daytona[] = []

  before(async () => {
    s = await startStack({ PROXY_DOMAIN: `${DOMAIN},127.0.0.1` })
    s.cp.toolboxProxyUrl = `http://127.0.0.1:${s.gw.port}/toolbox`
  })

  after(async () => {
    for (const d of clients) await (d as unknown as Disposable)[asyncDispose]?.call(d)
    await s?.close()
  })

  function sdkFor(sbx: SandboxHandle): Daytona {
    const d = new Daytona({ apiKey: sbx.bearer, apiUrl: s.cp.url, target: 'test' })
    clients.push(d)
    return d
  }

  /** A toolbox call through the gateway fails with the SDK class, status, code and message. */
  async function expectSdkError(sbx: SandboxHandle, prepare: () => void, e: Expected): Promise<void> {
    const sandbox = await sdkFor(sbx).get(sbx.id)
    prepare()
    const err = await sandbox.getUserHomeDir().then(() => assert.fail('the toolbox call succeeded'), (x: unknown) => x)
    assert.ok(err instanceof e.errorClass, `SDK class ${e.errorClass.name}, got ${(err as Error).constructor.name}: ${(err as Error).message}`)
    const de = err as DaytonaError
    assert.equal(de.statusCode, e.status)
    assert.equal(de.code, e.code, 'the SDK reads our code')
    assert.equal(de.source, 'DAYTONA_PROXY', 'the SDK tells a gateway error from a daemon one')
    assert.match(de.message, e.words, 'a useful message')
    // The same request without the SDK: the body carries daytonaCode.
    const r = await s.send(DOMAIN, `/toolbox/${sbx.id}/user-home-dir`, { headers: { authorization: `Bearer ${sbx.bearer}` } })
    const body = assertGatewayError(r, e.status, e.code)
    assert.equal(body.daytonaCode, e.daytonaCode)
    assert.equal(body.message, de.message)
  }

  test('runner unreachable → 502 UPSTREAM_UNREACHABLE / RUNNER_UNREACHABLE (DaytonaBadGatewayError)', T, async () => {
    const dead = await freePort()
    const sbx = s.sandbox({ prefix: 'dead', runner: { id: newId('dead'), proxyUrl: `http://127.0.0.1:${dead}`, apiUrl: `http://127.0.0.1:${dead}`, apiKey: 'dead-key' } })
    await expectSdkError(sbx, () => undefined, { status: 502, code: 'UPSTREAM_UNREACHABLE', daytonaCode: 'RUNNER_UNREACHABLE', errorClass: DaytonaBadGatewayError, words: /sandbox.*connection/i })
  })

  test('no runner holds the sandbox → 503 SANDBOX_NOT_STARTED (DaytonaServiceUnavailableError); upgrades too', T, async () => {
    const sbx = s.sandbox({ prefix: 'stopped', runner: null })
    await expectSdkError(sbx, () => undefined, { status: 503, code: 'SANDBOX_NOT_STARTED', daytonaCode: 'SANDBOX_NOT_STARTED', errorClass: DaytonaServiceUnavailableError, words: /not running/i })
    const up = await rawExchange(s.gw.port, `GET /toolbox/${sbx.id}/process/session HTTP/1.1\r\nHost: ${DOMAIN}\r\nAuthorization: Bearer ${sbx.bearer}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`)
    const body = assertGatewayError(up.response, 503, 'SANDBOX_NOT_STARTED')
    assert.equal(body.daytonaCode, 'SANDBOX_NOT_STARTED')
  })

  test('the sandbox is gone → 404 SANDBOX_NOT_FOUND (DaytonaNotFoundError); no bearer stays 401', T, async () => {
    const sbx = s.sandbox({ prefix: 'gone' })
    await expectSdkError(sbx, () => { s.cp.sandboxes.delete(sbx.id) }, { status: 404, code: 'SANDBOX_NOT_FOUND', daytonaCode: 'SANDBOX_NOT_FOUND', errorClass: DaytonaNotFoundError, words: /does not exist/i })
    assertGatewayError(await s.send(DOMAIN, `/toolbox/${sbx.id}/user-home-dir`), 401, 'UNAUTHORIZED')
  })

  test('a sandbox that answers is untouched: no daytonaCode on success, statuses are never 400', T, async () => {
    const sbx = s.sandbox({ prefix: 'ok' })
    const r = await s.send(DOMAIN, `/toolbox/${sbx.id}/user-home-dir`, { headers: { authorization: `Bearer ${sbx.bearer}` } })
    assert.equal(r.status, 200)
    assert.equal(r.headers['x-preview-error'], undefined)
  })
})
