import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { ControlPlane } from '../../src/control-plane/types.js'
import { ActivityTracker, type LiveStream } from '../../src/resolve/activity.js'

/** A long stream whose byte count the test moves; each beat reads it once, which paces the test. */
class Stream implements LiveStream {
  activitySlot = -1
  bytes = 0
  #reads: Array<() => void> = []
  readonly sandboxId: string
  constructor(sandboxId: string) { this.sandboxId = sandboxId }
  bytesMoved(): number {
    this.#reads.shift()?.()
    return this.bytes
  }
  /** Resolves when the next beat reads the count. */
  nextBeat(): Promise<void> {
    return new Promise((resolve) => this.#reads.push(resolve))
  }
}

test('SPEC §6 last activity: an open stream is reported at a beat only when it moved bytes', { timeout: 10_000 }, async () => {
  const posts: string[] = []
  const cp = { postLastActivity: async (id: string) => { posts.push(id) } } as unknown as ControlPlane
  const tracker = new ActivityTracker(cp, { maxEntries: 10, heartbeatMs: 5 })
  const alive = setInterval(() => {}, 1000) // the tracker's own timer is unref'd
  try {
    const s = new Stream('sbx-1')
    tracker.open(s)
    // A beat's posts are made before the awaiting test goes on (they follow its reads synchronously).
    await s.nextBeat() // the stream opened (its response started) since the last beat: reported
    assert.deepEqual(posts, ['sbx-1'])
    await s.nextBeat() // nothing moved
    assert.deepEqual(posts, ['sbx-1'])
    s.bytes += 100
    await s.nextBeat()
    assert.deepEqual(posts, ['sbx-1', 'sbx-1'])
    tracker.close(s)
    assert.equal(s.activitySlot, -1)
  } finally {
    clearInterval(alive)
    tracker.stop()
  }
})
