// demo/ owns the app `npm start` serves on the embedded default (a page and a WebSocket echo),
// so a fresh clone shows a working preview at once.
import { createServer, type Server } from 'node:http'
import { WebSocketServer } from 'ws'
import type { Logger } from '../log.js'

/**
 * The demo sandbox's app: one page and a WebSocket echo, on loopback. Started by the gateway only
 * when the embedded registry has a `demoApp` entry (the default config/sandboxes.json does).
 */
const PAGE = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Preview gateway demo</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:10vh auto;padding:0 1rem}#log{background:#f4f4f4;padding:.5rem;min-height:3rem;white-space:pre-wrap}</style></head>
<body><h1>It works: this page came through the preview gateway</h1>
<p>This is the demo sandbox's app. The line below is echoed over a WebSocket through the gateway.</p>
<div id="log">connecting…</div>
<script>
const ws = new WebSocket(location.origin.replace(/^http/, 'ws') + '/ws' + location.search);
const log = document.getElementById('log');
ws.onopen = () => { log.textContent = 'open'; ws.send('hello through the gateway'); };
ws.onmessage = (e) => { log.textContent += '\\necho: ' + e.data; };
ws.onerror = () => { log.textContent += '\\nwebsocket error'; };
</script></body></html>`

export function startDemoApp(host: string, port: number): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.url === '/health') { res.writeHead(200, { 'content-type': 'text/plain' }); res.end('ok'); return }
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-cache' })
    res.end(PAGE)
  })
  const wss = new WebSocketServer({ server, path: '/ws' })
  wss.on('error', () => undefined) // listen errors are reported through the promise below
  wss.on('connection', (ws) => {
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }))
  })
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => { server.off('error', reject); resolve(server) })
  })
}

/** The demo app the embedded registry names, if any. A convenience: a taken port must not stop the gateway. */
export async function startRegistryDemo(demo: { readonly host: string; readonly port: number } | undefined, log: Logger): Promise<Server[]> {
  if (demo === undefined) return []
  try {
    const server = await startDemoApp(demo.host, demo.port)
    log.info({ demoApp: `${demo.host}:${demo.port}` }, 'demo app started (configured by demoApp in the registry)')
    return [server]
  } catch (err) {
    log.warn({ demoApp: `${demo.host}:${demo.port}`, code: (err as NodeJS.ErrnoException).code }, 'demo app not started; the demo sandbox will answer 502')
    return []
  }
}
