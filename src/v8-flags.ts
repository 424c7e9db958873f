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

/** V8 13 or later (Node 24): the line whose flags and gc() options differ from V8 11's (Node 20). */
export function isV8Line13(v8Version = process.versions.v8): boolean {
  return Number.parseInt(v8Version, 10) >= 13
}
