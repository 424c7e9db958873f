/**
 * SPEC §10 signed toolbox file URLs in a real browser (issue 10 item 6): the download URL that the
 * real @daytonaio/sdk 0.218 builds, opened in a fresh Chromium context with no cookie and no
 * credential, downloads the file (bytes compared), whether typed in the address bar or reached by a
 * link click; a tampered signature shows the 401 error page and downloads nothing.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { Daytona } from '@daytonaio/sdk'
import type { Sandbox } from '@daytonaio/sdk'
import type { Browser, BrowserContext, Download, Page } from 'playwright-core'
import { ensureChromium, launchChromium } from '../helpers/chromium.js'
import { sha256 } from '../helpers/http.js'
import { artifactPath, recordRequests, startBrowserStack } from './support/env.js'
import type { BrowserStack, SeenRequest } from './support/env.js'
import type { SandboxHandle } from '../helpers/stack.js'

const skip = await ensureChromium()
const T = { timeout: 45_000 }
const KiB = 1024

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
}

type Disposable = { [k: symbol]: () => Promise<void> }
const asyncDispose = (Symbol as unknown as { asyncDispose: symbol }).asyncDispose

describe('signed file download URLs in Chromium (SPEC §10)', { skip: skip ?? false, timeout: 150_000 }, () => {
  let env: BrowserStack
  let browser: Browser
  let daytona: Daytona
  let sbx: SandboxHandle
  let sdkSbx: Sandbox
  let toolboxBase = ''

  before(async () => {
    env = await startBrowserStack()
    // The toolbox route lives on the base domain, which the browser maps to 127.0.0.1.
    toolboxBase = env.baseUrl('/toolbox')
    env.stack.cp.toolboxProxyUrl = toolboxBase
    // A private sandbox on the runner that plays the toolbox daemon (the app runner has no files).
    sbx = env.sandbox({ prefix: 'dl', runner: env.stack.runnerInfo })
    daytona = new Daytona({ apiKey: sbx.bearer, apiUrl: env.stack.cp.url, target: 'test' })
    sdkSbx = await daytona.get(sbx.id)
    assert.equal(sdkSbx.toolboxProxyUrl, toolboxBase, 'the SDK builds URLs on the gateway toolbox route')
    browser = await launchChromium()
  })
  after(async () => {
    await browser?.close()
    await (daytona as unknown as Disposable | undefined)?.[asyncDispose]?.call(daytona)
    await env?.close()
  })

  async function freshContext(): Promise<{ context: BrowserContext; page: Page; seen: SeenRequest[] }> {
    const context = await browser.newContext({ acceptDownloads: true })
    context.setDefaultTimeout(15_000)
    context.setDefaultNavigationTimeout(15_000)
    assert.deepEqual(await context.cookies(), [], 'a fresh context: no cookie at all')
    const seen = recordRequests(context)
    return { context, page: await context.newPage(), seen }
  }

  /** The finished download's bytes (read before the context closes, which deletes the file). */
  async function bytesOf(download: Download): Promise<Buffer> {
    assert.equal(await download.failure(), null, 'the download completed')
    const path = await download.path()
    return readFile(path)
  }

  /** The request Chromium sent for `url`: no cookie, no credential of any kind. */
  async function assertNoCredential(seen: readonly SeenRequest[], url: string): Promise<void> {
    const sent = seen.find((s) => s.url === url)
    assert.ok(sent !== undefined, `Chromium requested ${url}`)
    const headers = await sent.request.allHeaders()
    for (const h of ['cookie', 'authorization', 'x-daytona-preview-token', 'x-daytona-authorization']) {
      assert.equal(headers[h], undefined, `no ${h} header on the download request`)
    }
  }

  test('typed in the address bar: the SDK download URL downloads the file, bytes unchanged', T, async () => {
    const data = randomBytes(384 * KiB)
    const file = '/home/daytona/reports/quarter 3.bin'
    env.stack.runner.files.set(file, data)
    const url = await sdkSbx.downloadUrl(file)
    assert.ok(url.startsWith(`${toolboxBase}/${sbx.id}/files/download?`), url)
    const { context, page, seen } = await freshContext()
    try {
      const before = env.stack.runner.requests(sbx.id).length
      const downloading = page.waitForEvent('download')
      // A navigation that turns into a download never commits: goto rejects ("Download is starting").
      const nav = page.goto(url).then(() => 'committed', (err: unknown) => (err instanceof Error ? err.message : String(err)))
      const download = await downloading
      assert.equal(download.url(), url)
      const got = await bytesOf(download)
      assert.equal(got.length, data.length)
      assert.equal(sha256(got), sha256(data), 'the downloaded bytes are the file')
      await download.saveAs(artifactPath('signed-download.bin'))
      assert.match(await nav, /Download is starting/, 'the page did not navigate away')
      await assertNoCredential(seen, url)
      const upstream = env.stack.runner.requests(sbx.id).slice(before)
      assert.equal(upstream.length, 1, 'one request reached the toolbox daemon')
      assert.ok(upstream[0]?.rest.startsWith('/files/download?path='), upstream[0]?.rest)
      assert.ok(!/[?&](signature|expires)=/.test(upstream[0]?.rest ?? ''), `signature and expires stripped: ${upstream[0]?.rest}`)
    } finally {
      await context.close()
    }
  })

  test('reached by a link click: the file downloads', T, async () => {
    const data = randomBytes(256 * KiB + 17)
    const file = '/tmp/export.tar'
    env.stack.runner.files.set(file, data)
    const url = await sdkSbx.downloadUrl(file, 300)
    const { context, page, seen } = await freshContext()
    try {
      await page.setContent(`<!doctype html><a id="dl" href="${escapeHtml(url)}">Download the export</a>`)
      const [download] = await Promise.all([page.waitForEvent('download'), page.locator('#dl').click()])
      const got = await bytesOf(download)
      assert.equal(sha256(got), sha256(data), 'the downloaded bytes are the file')
      assert.equal(await page.locator('#dl').textContent(), 'Download the export', 'the page stays where it was')
      await assertNoCredential(seen, url)
    } finally {
      await context.close()
    }
  })

  test('a tampered signature: the 401 error page with UNAUTHORIZED, no download, nothing upstream', T, async () => {
    const file = '/home/daytona/secret.bin'
    env.stack.runner.files.set(file, randomBytes(200 * KiB))
    const good = await sdkSbx.downloadUrl(file)
    const u = new URL(good)
    const sig = u.searchParams.get('signature') ?? ''
    assert.match(sig, /^v1_[A-Za-z0-9_-]{43}$/, 'the SDK signature format')
    u.searchParams.set('signature', sig.slice(0, 10) + (sig[10] === 'A' ? 'B' : 'A') + sig.slice(11))
    const tampered = u.toString()
    const { context, page } = await freshContext()
    try {
      const downloads: Download[] = []
      page.on('download', (d) => { downloads.push(d) })
      const before = env.stack.runner.requests(sbx.id).length
      const res = await page.goto(tampered)
      assert.ok(res !== null)
      assert.equal(res.status(), 401)
      assert.match((await res.allHeaders())['content-type'] ?? '', /^text\/html/, 'an error page for the browser')
      await page.screenshot({ path: artifactPath('signed-download-tampered.png'), fullPage: true })
      assert.equal(page.url(), tampered, 'shown in place')
      assert.match((await page.locator('footer').textContent()) ?? '', /HTTP 401 .*UNAUTHORIZED/)
      const text = await page.locator('body').innerText()
      assert.ok(!text.includes(sbx.state.signingKey), 'the signing key is not on the page')
      assert.equal(downloads.length, 0, 'no download started')
      assert.equal(env.stack.runner.requests(sbx.id).length, before, 'nothing reached the toolbox daemon')
      // The untampered URL still downloads in the same context: the page above was the signature's doing.
      const [download] = await Promise.all([page.waitForEvent('download'), page.goto(good).catch(() => null)])
      assert.equal((await bytesOf(download)).length, 200 * KiB)
    } finally {
      await context.close()
    }
  })
})
