import type { GatewayErrorCode } from '../errors/codes.js'

/** Daytona `SandboxState` values (API seed and SDK 0.218). */
export const SANDBOX_STATES: ReadonlySet<string> = new Set([
  'creating', 'restoring', 'destroyed', 'destroying', 'started', 'stopped', 'starting', 'stopping',
  'error', 'build_failed', 'pending_build', 'building_snapshot', 'unknown', 'pulling_snapshot',
  'archived', 'archiving', 'resizing', 'snapshotting', 'forking',
])

/**
 * What a visit to a sandbox without a reachable runner means (SPEC §10):
 * - `wake`: asleep (`stopped`, `archived`): start it (WAKE_ON_REQUEST) or say it is stopped;
 * - `wait`: on its way up, or going down and about to be startable: "starting", no new start call;
 * - `running`: the platform says it runs: the runner entry was stale, look again;
 * - a gateway error code for states that no visit can fix.
 */
export type StateMeaning = 'wake' | 'wait' | 'running' | GatewayErrorCode

const MEANINGS: Readonly<Record<string, StateMeaning>> = Object.freeze({
  stopped: 'wake',
  archived: 'wake',
  starting: 'wait',
  restoring: 'wait',
  creating: 'wait',
  pulling_snapshot: 'wait',
  pending_build: 'wait',
  building_snapshot: 'wait',
  resizing: 'wait',
  snapshotting: 'wait',
  forking: 'wait',
  // Going down: the next visit after it settles starts it again.
  stopping: 'wait',
  archiving: 'wait',
  started: 'running',
  error: 'SANDBOX_ERROR',
  build_failed: 'SANDBOX_BUILD_FAILED',
  destroyed: 'SANDBOX_NOT_FOUND',
  destroying: 'SANDBOX_NOT_FOUND',
  unknown: 'SANDBOX_NOT_FOUND',
})

/** null (the platform does not know the sandbox) reads as destroyed; an unlisted state as "wait". */
export function meaningOf(state: string | null): StateMeaning {
  if (state === null) return 'SANDBOX_NOT_FOUND'
  return MEANINGS[state] ?? 'wait'
}
