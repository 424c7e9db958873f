/**
 * SPEC §10 per-sandbox preview warning, from outside: with PREVIEW_WARNING_ENABLED=true the page
 * appears only for sandboxes whose `GET /preview/{idOrToken}/preview-warning` says enabled;
 * signed-token hosts send `port`; the answer is cached and coalesced; a failed call shows the
 * page (fail safe); requests that never get the page make no call.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { startStack } from '../helpers/stack.js'
import type { Stack } from '../helpers/stack.js'
import { echoOf } from '../helpers/assertions.js'
import { newToken } from '../helpers/http.js'
import type { Reply } from '../helpers/http.js'

const T = { timeout: 30_000 }
const NAV = { 'sec-fetch-mode': 'navigate', 'sec-fetch-dest': 'document', 'user-agent': 'Mozilla/5.0 (X11; Linux x86_64) Chrome/130.0', accept: 'text/html,application/xhtml+xml;q=0.9,*/*;q=0.8' }
const FETCH = { 'sec-fetch-mode': 'cors', 'sec-fetch-dest': 'empty', accept: 'application/json' }

function isWarning(r: Reply): boolean {
  return r.status === 200 && r.headers['x-runner-echo'] === undefined && /You are about to open a preview/.test(r.text)
}

describe('SPEC §10 per-sandbox preview warning (PREVIEW_WARNING_ENABLED=true)', { timeout: 90_000 }, () => {
  let s: Stack
  before(async () => { s = await startStack({ PREVIEW_WARNING_ENABLED: 'true' }) })
  after(async () => { await s?.close() })

  function warningCalls(label: string): string[] {
    return s.cp.calls(`/preview/${label}/preview-warning`, 'GET').map((c) => c.url)
  }

  test('the page appears only for sandboxes whose preview-warning call says enabled', T, async () => {
    const on = s.sandbox({ public: true, prefix: 'warnon' })
    const off = s.sandbox({ public: true, prefix: 'warnoff', previewWarning: false })
    assert.ok(isWarning(await s.send(s.host(3000, on.id), '/echo', { headers: NAV })), 'enabled: the warning page')
    echoOf(await s.send(s.host(3000, off.id), '/echo', { headers: NAV }))
    assert.deepEqual(warningCalls(on.id), [`/preview/${on.id}/preview-warning`], 'asked with the id, no port for an id host')
    assert.deepEqual(warningCalls(off.id), [`/preview/${off.id}/preview-warning`])
    const call = s.cp.calls(`/preview/${off.id}/preview-warning`)[0]
    assert.equal(call?.headers.authorization, `Bearer ${s.cp.apiKey}`, 'with the gateway API key')
  })

  test('signed-token hosts ask with the token and send port', T, async () => {
    const on = s.sandbox({ prefix: 'tokon' })
    const off = s.sandbox({ prefix: 'tokoff', previewWarning: false })
    const tOn = newToken('sgn')
    const tOff = newToken('sgn')
    s.cp.addSignedToken(tOn, { sandboxId: on.id, port: 3000 })
    s.cp.addSignedToken(tOff, { sandboxId: off.id, port: 3000 })
    assert.ok(isWarning(await s.send(s.host(3000, tOn), '/echo', { headers: NAV })), 'enabled through a signed token: the page')
    echoOf(await s.send(s.host(3000, tOff), '/echo', { headers: NAV }))
    assert.deepEqual(warningCalls(tOn), [`/preview/${tOn}/preview-warning?port=3000`])
    assert.deepEqual(warningCalls(tOff), [`/preview/${tOff}/preview-warning?port=3000`])
  })

  test('cached and coalesced: many navigations, one call', T, async () => {
    const off = s.sandbox({ public: true, prefix: 'cached', previewWarning: false })
    s.cp.script(`/preview/${off.id}/preview-warning`, [{ delayMs: 300 }])
    const burst = await Promise.all(Array.from({ length: 20 }, () => s.send(s.host(3000, off.id), '/echo', { headers: NAV })))
    for (const r of burst) echoOf(r)
    for (let i = 0; i < 5; i++) echoOf(await s.send(s.host(3000, off.id), `/echo/again-${i}`, { headers: NAV }))
    assert.equal(warningCalls(off.id).length, 1, 'one preview-warning call for 25 navigations')
  })

  test('a failed call shows the page (fail safe) and is not cached as an answer', T, async () => {
    const off = s.sandbox({ public: true, prefix: 'failsafe', previewWarning: false })
    s.cp.script(`/preview/${off.id}/preview-warning`, [{ status: 500, body: { message: 'boom' } }], { repeatLast: true })
    assert.ok(isWarning(await s.send(s.host(3000, off.id), '/echo', { headers: NAV })), 'failure: the page')
    s.cp.clearScript(`/preview/${off.id}/preview-warning`)
    echoOf(await s.send(s.host(3000, off.id), '/echo', { headers: NAV }))
  })

  test('requests that never get the page make no call: fetch, accepted cookie, skip header', T, async () => {
    const on = s.sandbox({ public: true, prefix: 'nocall' })
    echoOf(await s.send(s.host(3000, on.id), '/echo/api', { headers: FETCH }))
    echoOf(await s.send(s.host(3000, on.id), '/echo', { headers: { ...NAV, cookie: 'daytona-preview-page-accepted=true' } }))
    echoOf(await s.send(s.host(3000, on.id), '/echo', { headers: { ...NAV, 'x-daytona-skip-preview-warning': 'true' } }))
    assert.deepEqual(warningCalls(on.id), [])
  })
})
