import { LRUCache } from 'lru-cache'
import type { ControlPlane } from '../control-plane/types.js'

/** SPEC §6 last activity: at most one post per sandbox per 45 s; long streams repeat every 50 s. */
export const ACTIVITY_THROTTLE_MS = 45_000
export const ACTIVITY_HEARTBEAT_MS = 50_000

/** A long-lived stream (WebSocket pair, long response) that counts the bytes it moved. */
export interface LiveStream {
  readonly sandboxId: string
  bytesMoved(): number
  /** Its place in the tracker while open (-1 or absent: not tracked); owned by ActivityTracker. */
  activitySlot?: number
}

/**
 * Posts are detached from the request that caused them: they are never cancelled by it and
 * their failure never reaches it. One interval timer serves every open stream.
 */
export class ActivityTracker {
  #cp: ControlPlane
  #lastSent: LRUCache<string, number>
  // Open streams in slots (a free list reuses them): no hashing of a fresh object per response,
  // which a Map keyed by the stream costs on every exchange.
  #streams: (LiveStream | undefined)[] = []
  #seen: number[] = []
  #free: number[] = []
  #timer: NodeJS.Timeout
  #now: () => number
  #claim: ((sandboxId: string) => Promise<boolean>) | undefined

  /** `claim`: with a fleet, the post is made by the one replica that wins the 45 s claim. */
  constructor(cp: ControlPlane, options: { maxEntries: number; now?: () => number; heartbeatMs?: number; claim?: (sandboxId: string) => Promise<boolean> }) {
    this.#cp = cp
    this.#claim = options.claim
    this.#now = options.now ?? Date.now
    this.#lastSent = new LRUCache<string, number>({ max: options.maxEntries, ttl: ACTIVITY_THROTTLE_MS, ttlAutopurge: false, ttlResolution: 0 })
    this.#timer = setInterval(() => this.#beat(), options.heartbeatMs ?? ACTIVITY_HEARTBEAT_MS)
    this.#timer.unref()
  }

  /** Called once per forwarded request (unless the skip header was sent). */
  touch(sandboxId: string): void {
    if (this.#lastSent.has(sandboxId)) return
    this.#lastSent.set(sandboxId, this.#now())
    if (this.#claim === undefined) void this.#cp.postLastActivity(sandboxId)
    else this.#claim(sandboxId).then((won) => { if (won) void this.#cp.postLastActivity(sandboxId) }, () => {})
  }

  /** Registers a long stream: while it moves bytes, activity is re-posted every heartbeat. */
  open(stream: LiveStream): void {
    const i = this.#free.pop() ?? this.#streams.length
    this.#streams[i] = stream
    // Not read here: most responses end before any beat, and a socket's byte count is a native
    // getter (seen in profiles). A stream alive at a beat has moved bytes since it opened.
    this.#seen[i] = -1
    stream.activitySlot = i
  }

  close(stream: LiveStream): void {
    const i = stream.activitySlot ?? -1
    if (i < 0 || this.#streams[i] !== stream) return
    this.#streams[i] = undefined
    this.#free.push(i)
    stream.activitySlot = -1
  }

  #beat(): void {
    const due = new Set<string>()
    const streams = this.#streams
    for (let i = 0; i < streams.length; i++) {
      const stream = streams[i]
      if (stream === undefined) continue
      const moved = stream.bytesMoved()
      if (moved !== this.#seen[i]) {
        this.#seen[i] = moved
        due.add(stream.sandboxId)
      }
    }
    for (const id of due) {
      this.#lastSent.set(id, this.#now())
      void this.#cp.postLastActivity(id)
    }
  }

  stop(): void {
    clearInterval(this.#timer)
  }
}
