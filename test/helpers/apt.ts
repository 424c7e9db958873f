/**
 * Installs a Debian package a test needs when its binary is missing (tests bring their own tools and
 * skip loudly only when one truly cannot be had). Synchronous, so a test file can decide its skip at
 * load time. Test files run in parallel processes: a lock directory keeps them from running apt at
 * the same time, and DPkg::Lock::Timeout makes apt wait for anyone else's dpkg instead of failing.
 */
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const LOCK_STALE_MS = 15 * 60_000
const WAIT_MS = 12 * 60_000
const APT_ENV = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
const APT_OPTS = ['-o', 'DPkg::Lock::Timeout=300']

const pause = (ms: number): void => { Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms) }

/** Takes the lock directory, or returns false once `binary` appeared or the deadline passed. */
function acquire(lock: string, binary: string, deadline: number): boolean {
  for (;;) {
    try {
      mkdirSync(lock)
      return true
    } catch {
      try {
        if (Date.now() - statSync(lock).mtimeMs > LOCK_STALE_MS) rmSync(lock, { recursive: true, force: true })
      } catch { /* released meanwhile */ }
      if (existsSync(binary) || Date.now() > deadline) return false
      pause(1000)
    }
  }
}

function apt(args: readonly string[], timeoutMs: number): string | null {
  const r = spawnSync('apt-get', [...APT_OPTS, ...args], { env: APT_ENV, encoding: 'utf8', timeout: timeoutMs })
  return r.status === 0 ? null : `apt-get ${args.join(' ')} failed (status ${r.status}${r.error ? `, ${r.error.message}` : ''}): ${(r.stderr ?? '').slice(-800)}`
}

/**
 * Makes sure `binary` exists, installing `pkg` with apt when it does not. Returns null when the
 * binary is there, or the reason it is not (the caller skips loudly with it).
 */
export function ensureAptBinary(pkg: string, binary: string): string | null {
  if (existsSync(binary)) return null
  const lock = join(tmpdir(), `preview-gateway-apt-${pkg}.lock`)
  const locked = acquire(lock, binary, Date.now() + WAIT_MS)
  try {
    if (existsSync(binary)) return null
    if (!locked) return `another process held ${lock} and ${binary} did not appear`
    process.stderr.write(`\n[test setup] ${binary} is missing: apt-get install -y ${pkg} …\n`)
    // The package lists may be missing or stale: update only when a first install attempt fails.
    if (apt(['install', '-y', '--no-install-recommends', pkg], 10 * 60_000) !== null) {
      const updated = apt(['update'], 5 * 60_000)
      if (updated !== null) return updated
      const installed = apt(['install', '-y', '--no-install-recommends', pkg], 10 * 60_000)
      if (installed !== null) return installed
    }
    if (!existsSync(binary)) return `apt-get install -y ${pkg} succeeded but ${binary} is still missing`
    process.stderr.write(`[test setup] ${pkg} installed\n`)
    return null
  } finally {
    if (locked) rmSync(lock, { recursive: true, force: true })
  }
}
