/**
 * SPEC §6 — the client idle timeout (CLIENT_IDLE_TIMEOUT_SEC): a connection with a request open
 * that moves no byte for that long is closed, one that keeps moving bytes is not, and a keep-alive
 * connection between requests is left to the keep-alive timeout.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { startStack, type SandboxHandle, type Stack } from '../helpers/stack.js'
import { RawConnection } from '../helpers/raw-http.js'

const T = { timeout: 30_000 }
const IDLE_MS = 1000

function head(host: string, token: string, method: string, path: string, extra = ''): string {
  return `${method} ${path} HTTP/1.1\r\nHost: ${host}\r\nX-Daytona-Preview-Token: ${token}\r\n${extra}\r\n`
}

describe('SPEC §6: client idle timeout', () => {
  let stack: Stack
  let sbx: SandboxHandle
  let host: string

  before(async () => {
    stack = await startStack({ CLIENT_IDLE_TIMEOUT_SEC: String(IDLE_MS / 1000) })
    sbx = stack.sandbox()
    host = stack.host(3000, sbx.id)
  })
  after(async () => { await stack?.close() })

  test('an upload that stops sending is cut after the idle timeout, not before', T, async () => {
    const c = await RawConnection.open(stack.gw.port)
    const start = Date.now()
    await c.write(head(host, sbx.token, 'POST', '/upload', 'Content-Length: 1000\r\n') + 'x'.repeat(10))
    assert.equal(await c.waitClosed(8000), true, 'the stalled upload connection was closed')
    const after = (c.closedAt ?? Date.now()) - start
    assert.ok(after >= IDLE_MS - 100, `closed after ${after} ms: before the ${IDLE_MS} ms idle timeout`)
  })

  test('a download the client stops reading is cut once no byte moves for the idle timeout', T, async () => {
    const total = 256 * 1024 * 1024
    const c = await RawConnection.open(stack.gw.port)
    c.socket.pause()
    await c.write(head(host, sbx.token, 'GET', `/big?bytes=${total}`))
    // The client stalls for three idle timeouts (a paused socket does not see the cut until it reads).
    await new Promise((resolve) => setTimeout(resolve, IDLE_MS * 3))
    c.socket.resume()
    assert.equal(await c.waitClosed(10_000), true, 'the connection of a client that stopped reading was closed')
    assert.ok(c.received.length < total, `the cut came before the end (${c.received.length} of ${total} bytes)`)
  })

  test('an upload that keeps sending slowly, for longer than the timeout in all, is not cut', T, async () => {
    const c = await RawConnection.open(stack.gw.port)
    const bytes = 12
    await c.write(head(host, sbx.token, 'POST', '/upload', `Content-Length: ${bytes}\r\n`))
    // One byte every quarter of the timeout: three timeouts in all, never one without a byte.
    for (let i = 0; i < bytes; i++) {
      await new Promise((resolve) => setTimeout(resolve, IDLE_MS / 4))
      await c.write('y')
    }
    const r = await c.response(5000)
    assert.equal(r.status, 200)
    assert.equal(JSON.parse(r.body.toString()).bytes, bytes)
    c.destroy()
  })

  test('a keep-alive connection idle between requests for longer than the timeout is still served', T, async () => {
    const c = await RawConnection.open(stack.gw.port)
    await c.write(head(host, sbx.token, 'GET', '/echo/1'))
    assert.equal((await c.response(5000)).status, 200)
    // The keep-alive timeout (70 s by default) applies between requests, not the client idle one.
    assert.equal(await c.waitClosed(IDLE_MS * 2.5), false, 'the keep-alive connection was closed between requests')
    await c.write(head(host, sbx.token, 'GET', '/echo/2'))
    assert.equal((await c.response(5000)).status, 200)
    c.destroy()
  })
})
