/**
 * SPEC §10 wake on visit in a real browser: a stopped sandbox opened through the gateway shows the
 * "Sandbox is starting" page, which reloads by itself and lands on the app once the sandbox is up,
 * without the user touching anything; one start call. Screenshot in test-artifacts/.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import type { Browser } from 'playwright-core'
import { ensureChromium, launchChromium } from '../helpers/chromium.js'
import { artifactPath, recordRequests, startBrowserStack } from './support/env.js'
import type { BrowserStack } from './support/env.js'

const skip = await ensureChromium()
const T = { timeout: 60_000 }

describe('wake on visit in Chromium (SPEC §10)', { skip: skip ?? false, timeout: 150_000 }, () => {
  let env: BrowserStack
  let browser: Browser

  before(async () => {
    env = await startBrowserStack({ env: { WAKE_ON_REQUEST: 'true' } })
    browser = await launchChromium()
  })
  after(async () => {
    await browser?.close()
    await env?.close()
  })

  test('a stopped sandbox: the starting page, then the app, with no user action', T, async () => {
    const sbx = env.sandbox({ public: true, prefix: 'sleepy' })
    env.stack.cp.stopSandbox(sbx.id)
    // The fake platform never finishes the start by itself: the test does, once the starting page
    // is up, so "answered before the sandbox is up" holds however slow the machine is.
    sbx.state.startDelayMs = 600_000
    const context = await browser.newContext()
    context.setDefaultTimeout(20_000)
    const seen = recordRequests(context)
    try {
      const page = await context.newPage()
      const url = env.previewUrl(3000, sbx.id, '/dashboard?tab=1')
      const res = await page.goto(url)
      assert.ok(res !== null)
      assert.equal(res.status(), 503, 'the starting page is answered at once as a 503')
      assert.equal(res.request().redirectedFrom(), null, 'in place, no redirect')
      assert.notEqual(sbx.state.state, 'started', 'answered before the sandbox is up, not held')
      assert.equal(await page.locator('h1').textContent(), 'Sandbox is starting')
      await page.screenshot({ path: artifactPath('wake-starting-page.png'), fullPage: true })
      env.stack.cp.finishStart(sbx.id)

      // Nobody touches anything: the page reloads itself until the app answers.
      await page.locator('#app').waitFor({ timeout: 30_000 })
      assert.match((await page.locator('h1').textContent()) ?? '', new RegExp(`App of ${sbx.id}:3000`))
      assert.equal(page.url(), url, 'the same URL, now the app')
      assert.equal(await page.locator('#path').textContent(), '/dashboard?tab=1')
      await page.waitForFunction("document.getElementById('fetch-result').textContent !== 'pending'")
      assert.match((await page.locator('#fetch-result').textContent()) ?? '', /^200 application\/json/, "the app's own fetch works")
      const navigations = seen.filter((s) => s.navigation && s.url === url).length
      assert.ok(navigations >= 2, `the page reloaded itself (${navigations} navigations)`)
      assert.equal(env.stack.cp.startCalls(sbx.id), 1, 'one start call for all those reloads')
    } finally {
      await context.close()
    }
  })
})
