/**
 * src/heap-reclaim.ts in a real node with npm start's flags: garbage promoted to the old generation
 * during load (what stalled and reset exchanges leave) is given back once the process goes quiet,
 * once, and never while it is busy or before any load.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { startScriptNodeFlags } from '../../bench/harness.js'

const ROOT = fileURLToPath(new URL('../../../', import.meta.url))

/**
 * Quiet 0.8 s (nothing to give back: no load yet), then load (a million objects, ~1 s here) that keeps a
 * sliding window of them alive long enough to be promoted and lets them die there (~115 MB of old
 * generation, under the 128 at which V8 would collect by itself), then quiet 2 s. Ticks every 200 ms.
 */
const SCENARIO = `
const { startHeapReclaim } = await import(process.argv[1])
const { getHeapStatistics } = await import('node:v8')
const MiB = 1024 * 1024
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
const reclaims = []
const at = () => reclaims.length
startHeapReclaim({ everyMs: 200, quietCpu: 0.01, minGrowthBytes: 16 * MiB, onReclaim: (r) => reclaims.push(r) })
await sleep(800)
const beforeLoad = at()
let window = []
let made = 0
while (made < 1000000) {
  for (let i = 0; i < 2000; i++, made++) window.push({ made, s: 'payload-' + made, a: [made, made + 1] })
  if (window.length > 300000) window = window.slice(150000)
  await new Promise((r) => setImmediate(r))
}
const duringLoad = at()
const rssLoaded = process.memoryUsage.rss()
const heapLoaded = getHeapStatistics().total_heap_size
window = null
await sleep(2000)
process.stdout.write(JSON.stringify({ beforeLoad, duringLoad, made, rssLoaded, heapLoaded, rssEnd: process.memoryUsage.rss(), heapEnd: getHeapStatistics().total_heap_size, reclaims }))
`

test('after load, a quiet process gives its dead old generation back once; never before load or while busy', { timeout: 30_000 }, () => {
  const mod = pathToFileURL(join(ROOT, 'dist/src/heap-reclaim.js')).href
  const out = execFileSync(process.execPath, [...startScriptNodeFlags(ROOT), '--input-type=module', '-e', SCENARIO, mod], { encoding: 'utf8' })
  const r = JSON.parse(out) as { beforeLoad: number; duringLoad: number; made: number; rssLoaded: number; heapLoaded: number; rssEnd: number; heapEnd: number; reclaims: { ms: number; rssBefore: number; rssAfter: number }[] }
  const MiB = 1024 * 1024
  const detail = `${JSON.stringify({ ...r, rssLoaded: r.rssLoaded / MiB, rssEnd: r.rssEnd / MiB, heapLoaded: r.heapLoaded / MiB, heapEnd: r.heapEnd / MiB })} on ${process.version}`
  assert.ok(r.heapLoaded > 64 * MiB, `the load must leave a big old generation behind to test anything: ${detail}`)
  assert.equal(r.beforeLoad, 0, `a reclaim before any load: ${detail}`)
  assert.equal(r.duringLoad, 0, `a reclaim while the process was busy: ${detail}`)
  assert.equal(r.reclaims.length, 1, `one reclaim per quiet spell after load: ${detail}`)
  assert.ok(r.rssEnd < r.rssLoaded - 32 * MiB, `RSS given back: ${detail}`)
  assert.ok(r.heapEnd < r.heapLoaded / 2, `V8 heap given back: ${detail}`)
})
