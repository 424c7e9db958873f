import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { isV8Line13 } from './v8-flags.js'

/**
 * Memory back after a burst (README "Runtime settings"). Requests that stall or die mid-way (a runner
 * that hangs, resets, refuses) live long enough to be promoted to V8's old generation, and die there.
 * With --initial-old-space-size=128 nothing collects that garbage until the old generation nears
 * 128 MiB, and V8's memory reducer only starts after a full GC: an idle gateway then keeps ~100 MiB
 * of dead heap (and the buffers it pins) for good — measured +65 MiB RSS four minutes after a
 * 2-minute fault soak. So once the process goes quiet after load, and its RSS grew since the last
 * reclaim, it runs one memory-reducing full GC (~0.1 s, when nothing is waiting) — the same idea
 * as Envoy's shrink_heap overload action.
 */
export interface HeapReclaimOptions {
  /** How often the process looks at itself. */
  readonly everyMs?: number
  /** CPU (fraction of one core) below which an interval counts as quiet. */
  readonly quietCpu?: number
  /** RSS growth since the last reclaim (or start) worth a full GC. */
  readonly minGrowthBytes?: number
  readonly onReclaim?: (r: Reclaimed) => void
}

export interface Reclaimed {
  readonly ms: number
  readonly rssBefore: number
  /** Right after the GC (Node 20 unmaps the freed pages a moment later). */
  readonly rssAfter: number
}

/** V8's gc() (the gc extension of --expose-gc), got without a global: the flag is on only while a throwaway context is made. */
type Gc = (options?: { type: 'major'; flavor: 'last-resort' }) => void

/**
 * A full GC that gives memory back. V8 13 (Node 24) needs the last-resort flavour (collect until
 * nothing more dies, release the pooled pages: RSS 250 → 62 MB where a plain full GC left 214);
 * V8 11 (Node 20) ignores an options object altogether and does that with a bare gc().
 */
function memoryReducingGc(): () => void {
  setFlagsFromString('--expose-gc')
  let gc: Gc
  try {
    gc = runInNewContext('gc') as Gc
  } finally {
    setFlagsFromString('--no-expose-gc')
  }
  return isV8Line13() ? () => gc({ type: 'major', flavor: 'last-resort' }) : () => gc()
}

export function startHeapReclaim(o: HeapReclaimOptions = {}): { stop(): void } {
  const everyMs = o.everyMs ?? 5000
  const quietMicros = (o.quietCpu ?? 0.02) * everyMs * 1000
  const minGrowth = o.minGrowthBytes ?? 32 * 1024 * 1024
  const gc = memoryReducingGc()
  let lastCpu = process.cpuUsage()
  let level = process.memoryUsage.rss()
  let loaded = false
  const tick = (): void => {
    const now = process.cpuUsage()
    const used = now.user - lastCpu.user + now.system - lastCpu.system
    lastCpu = now
    if (used >= quietMicros) {
      loaded = true
      return
    }
    const rssBefore = process.memoryUsage.rss()
    // Once per quiet spell after load, and only when there is something to give back.
    if (!loaded || rssBefore - level < minGrowth) return
    loaded = false
    const t0 = performance.now()
    gc()
    const ms = performance.now() - t0
    level = process.memoryUsage.rss()
    lastCpu = process.cpuUsage() // the GC's own CPU is not load
    o.onReclaim?.({ ms, rssBefore, rssAfter: level })
  }
  const timer = setInterval(tick, everyMs).unref()
  return { stop: () => clearInterval(timer) }
}
