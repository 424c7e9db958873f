import { setFlagsFromString } from 'node:v8'

/**
 * V8 flags the gateway sets on itself, for the V8 lines that need them (README "Runtime settings").
 *
 * Every 64 KiB socket read of a download is a fresh ArrayBuffer, dead a moment later. V8 11 (Node 20)
 * scavenges once young ArrayBuffers pass 2× its default semi-space (~32 MiB). V8 13 (Node 24) sizes
 * that default at 64 MB, so the buffers pile up to 128 MiB, and its external-memory soft limit
 * starts a full mark-compact first: ~12 a second under 1 MiB downloads, a quarter of their throughput.
 * The two flags restore V8 11's behaviour: scavenges every ~32 MiB of buffers, and external memory
 * counted in the global limit (sized by --initial-old-space-size) instead of starting a full GC.
 * --max-semi-space-size (npm start) still caps the new space itself. V8 before 13 lacks the flags and
 * would print "unrecognized flag". Both are read at each allocation and GC, so setting them at
 * start-up, before the first request, takes effect (test/deploy/runtime-settings.test.ts).
 */
export function applyV8Flags(v8Version = process.versions.v8): void {
  if (!isV8Line13(v8Version)) return
  setFlagsFromString('--external-memory-accounted-in-global-limit')
  setFlagsFromString('--scavenger-max-new-space-capacity-mb=8')
}

/**
 * Calls before V8 13 recompiles a function with TurboFan once the process is warm (V8's default: 3000).
 * A proxy's hot functions run once or twice per request. When the traffic changes shape (another
 * client, other headers) dozens of them deoptimise and are recompiled on V8's helper threads, which
 * share the proxy's core with the event loop: at 1000 req/s the default spreads those 3–17 ms jobs over
 * ~15 s of the latency tail, and a third of the calls makes that a third as long (fixed-rate p99,
 * bench/RESULTS.md session 14). Not from the start: a fresh process then compiles more functions while
 * it serves its first requests (cold path +5 ms for one request, +10–15 ms for a burst of 200).
 */
export const TURBOFAN_INVOCATIONS = 1000

export interface LowerTurbofanOptions {
  /** CPU the process has spent (user + system) by which its first tier-up is done. */
  readonly warmCpuMs?: number
  readonly everyMs?: number
  readonly onLowered?: () => void
}

/** Sets TURBOFAN_INVOCATIONS once the process is warm (V8 13 only; read at each budget reset, so it takes effect at once). */
export function lowerTurbofanThresholdOnceWarm(o: LowerTurbofanOptions = {}): { stop(): void } {
  if (!isV8Line13()) return { stop: () => {} }
  const warmMicros = (o.warmCpuMs ?? 3000) * 1000
  const timer = setInterval(() => {
    const cpu = process.cpuUsage()
    if (cpu.user + cpu.system < warmMicros) return
    clearInterval(timer)
    setFlagsFromString(`--invocation-count-for-turbofan=${TURBOFAN_INVOCATIONS}`)
    o.onLowered?.()
  }, o.everyMs ?? 1000).unref()
  return { stop: () => clearInterval(timer) }
}

/** V8 13 or later (Node 24): the line whose flags and gc() options differ from V8 11's (Node 20). */
export function isV8Line13(v8Version = process.versions.v8): boolean {
  return Number.parseInt(v8Version, 10) >= 13
}
