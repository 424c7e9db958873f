import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Counter, Histogram, Registry } from 'prom-client'
import { TalliedCounter, TalliedHistogram } from '../../src/metrics/tally.js'

// Powers of two: sums are exact whatever the order, so the texts can be compared byte for byte.
const BUCKETS = [1 / 1024, 1 / 64, 1 / 8, 1]

/** The same observations through prom-client directly and through the tallies: identical exposition. */
function pair(): { plain: Registry; tallied: Registry; observe: (kind: string, v: number) => void; count: (kind: string, code: number) => void; bare: (v: number) => void } {
  const plain = new Registry()
  const tallied = new Registry()
  const ph = new Histogram({ name: 'h_seconds', help: 'h', labelNames: ['kind'], buckets: BUCKETS, registers: [plain] })
  const pc = new Counter({ name: 'c_total', help: 'c', labelNames: ['kind', 'code'], registers: [plain] })
  const pb = new Histogram({ name: 'b_seconds', help: 'b', buckets: BUCKETS, registers: [plain] })
  const th = new TalliedHistogram({ name: 'h_seconds', help: 'h', labelNames: ['kind'], buckets: BUCKETS, registers: [tallied] })
  const tc = new TalliedCounter({ name: 'c_total', help: 'c', labelNames: ['kind', 'code'], registers: [tallied] })
  const tb = new TalliedHistogram({ name: 'b_seconds', help: 'b', buckets: BUCKETS, registers: [tallied] })
  return {
    plain,
    tallied,
    observe: (kind, v) => { ph.observe({ kind }, v); th.observe({ kind }, v) },
    count: (kind, code) => { pc.inc({ kind, code: String(code) }); tc.inc({ kind, code: String(code) }) },
    bare: (v) => { pb.observe(v); tb.observe(v) },
  }
}

test('tallied counters and histograms expose exactly what prom-client would, scrape after scrape', { timeout: 5000 }, async () => {
  const p = pair()
  assert.equal(await p.tallied.metrics(), await p.plain.metrics())
  const values = [1 / 2048, 1 / 1024, 1 / 512, 1 / 32, 1 / 8, 0.5, 1, 7, 0]
  for (const v of values) { p.observe('preview', v); p.bare(v) }
  p.observe('health', 1 / 256)
  for (const code of [200, 200, 404, 502]) p.count('preview', code)
  const first = await p.plain.metrics()
  assert.equal(await p.tallied.metrics(), first)
  assert.match(first, /h_seconds_count\{kind="preview"\} 9/)
  // A second scrape with no new data changes nothing; new data adds to what was flushed.
  assert.equal(await p.tallied.metrics(), first)
  for (const v of values) p.observe('preview', v)
  p.count('toolbox', 200)
  // Label sets that repeat, alternate and differ in one label only (the last-set memo of the tally).
  for (const [kind, code] of [['preview', 200], ['preview', 404], ['preview', 404], ['toolbox', 404], ['preview', 200], ['toolbox', 200]] as const) p.count(kind, code)
  p.observe('health', 1 / 256)
  p.observe('preview', 1 / 256)
  p.bare(1 / 16)
  assert.equal(await p.tallied.metrics(), await p.plain.metrics())
  assert.deepEqual(await p.tallied.getMetricsAsJSON(), await p.plain.getMetricsAsJSON())
})

test('a tallied histogram refuses a non-finite value like prom-client', { timeout: 5000 }, () => {
  const h = new TalliedHistogram({ name: 'x_seconds', help: 'x', buckets: BUCKETS, registers: [new Registry()] })
  assert.throws(() => h.observe(Number.NaN), TypeError)
})
