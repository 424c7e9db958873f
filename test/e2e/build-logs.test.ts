/**
 * SPEC §1/§2/§5 build-log routes on the base domain: the user's bearer finds the snapshot and its
 * runner through the API, the stream is forwarded from that runner with the runner's key (never the
 * bearer); the lookups are cached (2 min found, 5 s refused), coalesced, and cancelled when the
 * client goes away.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import { startStack } from '../helpers/stack.js'
import type { Stack } from '../helpers/stack.js'
import { assertGatewayError, echoOf } from '../helpers/assertions.js'
import { newToken, withTimeout } from '../helpers/http.js'

const T = { timeout: 30_000 }

describe('build-log routes', () => {
  let s: Stack
  before(async () => { s = await startStack({ API_CLIENT_TIMEOUT_SEC: '20' }) })
  after(async () => { await s?.close() })

  test('the bearer\'s sandbox → its snapshot\'s logs on the runner, with the runner key and the query kept; the bearer never forwarded', T, async () => {
    const sbx = s.sandbox({ buildInfo: { snapshotRef: 'snap-ref-1' } })
    const echo = echoOf(await s.send('preview.test', `/sandboxes/${sbx.id}/build-logs?follow=true`, { headers: { authorization: `Bearer ${sbx.bearer}` } }))
    assert.equal(echo.url, '/snapshots/logs?snapshotRef=snap-ref-1&follow=true')
    assert.ok(!JSON.stringify(echo.rawHeaders).includes(sbx.bearer), 'the user\'s bearer does not reach the runner')
    assert.equal(s.cp.calls(`/sandbox/${sbx.id}`).length, 1)
    assert.equal(s.cp.calls(`/sandbox/${sbx.id}`)[0]?.headers.authorization, `Bearer ${sbx.bearer}`, 'asked with the user\'s bearer')
  })

  test('no bearer → 401; a bearer the API refuses → 401', T, async () => {
    const sbx = s.sandbox({ buildInfo: { snapshotRef: 'snap-ref-2' } })
    assertGatewayError(await s.send('preview.test', `/sandboxes/${sbx.id}/build-logs`), 401, 'UNAUTHORIZED')
    assertGatewayError(await s.send('preview.test', `/sandboxes/${sbx.id}/build-logs`, { headers: { authorization: `Bearer ${newToken('nobody')}` } }), 401, 'UNAUTHORIZED')
  })

  test('lookups are cached and coalesced (SPEC §5): 8 requests, 4 of them at once, one API call of each kind', T, async () => {
    const sbx = s.sandbox({ buildInfo: { snapshotRef: 'snap-ref-3' } })
    const runnerCallsBefore = s.cp.calls(`/runners/${s.runnerInfo.id}/full`).length
    const get = (): Promise<unknown> => s.send('preview.test', `/sandboxes/${sbx.id}/build-logs`, { headers: { authorization: `Bearer ${sbx.bearer}` } }).then(echoOf)
    await Promise.all([get(), get(), get(), get()])
    for (let i = 0; i < 4; i++) await get()
    assert.equal(s.cp.calls(`/sandbox/${sbx.id}`).length, 1, 'one /sandbox/{id} call')
    assert.equal(s.cp.calls(`/runners/${s.runnerInfo.id}/full`).length - runnerCallsBefore, 1, 'one /runners/{id}/full call')
    // Another bearer is another answer.
    const other = newToken('ub')
    s.cp.sandboxes.get(sbx.id)?.bearers.add(other)
    echoOf(await s.send('preview.test', `/sandboxes/${sbx.id}/build-logs`, { headers: { authorization: `Bearer ${other}` } }))
    assert.equal(s.cp.calls(`/sandbox/${sbx.id}`).length, 2)
  })

  test('a lookup nobody waits for any more is cancelled (SPEC §2)', T, async () => {
    const sbx = s.sandbox({ buildInfo: { snapshotRef: 'snap-ref-4' } })
    s.cp.script(`/sandbox/${sbx.id}`, [{ hang: true }])
    const req = http.request({ host: '127.0.0.1', port: s.gw.port, path: `/sandboxes/${sbx.id}/build-logs`, agent: false, headers: { host: 'preview.test', authorization: `Bearer ${sbx.bearer}` } })
    req.on('error', () => { /* we cut it */ })
    req.end()
    const call = await s.cp.waitForCall((c) => c.path === `/sandbox/${sbx.id}`, 5000)
    req.destroy()
    assert.equal(await withTimeout(call.settled, 5000, 'the lookup ends when the client leaves'), 'aborted')
    assert.equal(s.cp.calls(`/sandbox/${sbx.id}`).length, 1, 'and is not retried')
  })
})
