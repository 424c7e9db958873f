/**
 * A real Vite dev server behind the gateway (embedded control plane, SPEC §8: a public sandbox
 * whose port 5173 maps to the dev server), opened in Chromium at
 * `http://5173-{id}.preview.test:{gw}/`: the page renders through the gateway, and an edit of
 * main.js on disk reaches the page through Vite's HMR WebSocket proxied by the gateway (SPEC §6
 * WebSocket upgrades, subprotocol `vite-hmr` passed through) — a hot update, not a reload.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Browser, WebSocket as PwWebSocket } from 'playwright-core'
import { createServer } from 'vite'
import type { ViteDevServer } from 'vite'
import { ensureChromium, launchChromium } from '../helpers/chromium.js'
import { startGateway, tempDir } from '../helpers/gateway.js'
import type { GatewayProcess } from '../helpers/gateway.js'
import { freePort, newId } from '../helpers/http.js'

const skip = await ensureChromium()

const INDEX_HTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>vite behind the gateway</title></head>
<body><h1 id="msg">loading</h1><p id="loads"></p><script type="module" src="/main.js"></script></body></html>
`

function mainJs(version: number): string {
  return `document.getElementById('msg').textContent = 'version ${version}';
window.__mainRuns = (window.__mainRuns || 0) + 1;
document.getElementById('loads').textContent = 'main.js ran ' + window.__mainRuns + ' time(s)';
if (import.meta.hot) import.meta.hot.accept();
`
}

describe('Vite dev server with HMR behind the gateway', { skip: skip ?? false, timeout: 120_000 }, () => {
  let dir: string
  let vite: ViteDevServer
  let gw: GatewayProcess
  let browser: Browser
  let gwPort: number
  const id = newId('vite')

  before(async () => {
    dir = tempDir('gw-vite-')
    writeFileSync(join(dir, 'index.html'), INDEX_HTML)
    writeFileSync(join(dir, 'main.js'), mainJs(1))
    gwPort = await freePort()
    const vitePort = await freePort()
    vite = await createServer({
      root: dir,
      configFile: false,
      envFile: false,
      logLevel: 'silent',
      clearScreen: false,
      cacheDir: join(dir, '.vite'),
      optimizeDeps: { noDiscovery: true, include: [] },
      server: { port: vitePort, strictPort: true, host: '127.0.0.1', hmr: { clientPort: gwPort } },
    })
    await vite.listen()
    const registry = join(dir, 'sandboxes.json')
    writeFileSync(registry, JSON.stringify({ sandboxes: { [id]: { public: true, ports: { '5173': `http://127.0.0.1:${vitePort}` } } } }, null, 2))
    gw = await startGateway({
      env: {
        PROXY_PORT: String(gwPort),
        PROXY_PUBLIC_PORT: String(gwPort),
        PROXY_DOMAIN: 'preview.test',
        SANDBOXES_FILE: registry,
        SESSION_SECRET: 'vite-browser-test-session-secret-0123456789',
        LOG_LEVEL: 'info',
      },
    })
    browser = await launchChromium()
  })
  after(async () => {
    await browser?.close()
    await gw?.stop()
    await vite?.close()
  })

  test('the page renders through the gateway and a file edit arrives over the proxied HMR WebSocket', { timeout: 60_000 }, async () => {
    const context = await browser.newContext()
    context.setDefaultTimeout(15_000)
    try {
      const page = await context.newPage()
      const sockets: PwWebSocket[] = []
      const received: string[] = []
      page.on('websocket', (ws) => {
        sockets.push(ws)
        ws.on('framereceived', (f) => { received.push(typeof f.payload === 'string' ? f.payload : f.payload.toString('utf8')) })
      })
      const url = `http://5173-${id}.preview.test:${gwPort}/`
      const hmrConnected = page.waitForEvent('console', { predicate: (m) => m.text().includes('[vite] connected'), timeout: 15_000 })
      const res = await page.goto(url)
      assert.ok(res !== null)
      assert.equal(res.status(), 200, `index.html through the gateway (${res.status()})`)
      await page.waitForFunction("document.getElementById('msg').textContent === 'version 1'", undefined, { timeout: 15_000 })
      await hmrConnected

      const hmr = sockets.find((ws) => new URL(ws.url()).host === `5173-${id}.preview.test:${gwPort}`)
      assert.ok(hmr !== undefined, `the HMR socket goes to the preview host through the gateway (sockets: ${sockets.map((s) => s.url()).join(', ')})`)
      assert.ok(!hmr.isClosed(), 'the HMR socket is open')
      assert.ok(received.some((m) => m.includes('"type":"connected"')), 'Vite greeted the client through the tunnel')

      await page.evaluate("window.__marker = 'still the same document'")
      const update = page.waitForEvent('console', { predicate: (m) => m.text().includes('[vite] hot updated'), timeout: 20_000 })
      writeFileSync(join(dir, 'main.js'), mainJs(2))
      await page.waitForFunction("document.getElementById('msg').textContent === 'version 2'", undefined, { timeout: 20_000 })
      await update
      assert.equal(await page.evaluate('window.__marker'), 'still the same document', 'a hot update, not a full reload')
      assert.ok(received.some((m) => m.includes('"type":"update"')), 'the update message came over the proxied WebSocket')
      assert.equal(await page.locator('#loads').textContent(), 'main.js ran 2 time(s)')
    } finally {
      await context.close()
    }
  })
})
