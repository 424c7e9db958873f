/**
 * Chromium for the browser e2e tests: Debian's `chromium` package at /usr/bin/chromium, installed
 * with apt when missing (once per machine: a lock directory keeps parallel test files from running
 * apt at the same time), launched through playwright-core with every preview/test host name mapped
 * to 127.0.0.1, so that no test ever leaves loopback.
 */
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium } from 'playwright-core'
import type { Browser, LaunchOptions } from 'playwright-core'

export const CHROMIUM_PATH = '/usr/bin/chromium'

/** Host names the browser resolves to 127.0.0.1 (everything else fails to resolve). */
export const HOST_RULES = [
  'MAP *.preview.test 127.0.0.1',
  'MAP preview.test 127.0.0.1',
  'MAP *.other.test 127.0.0.1',
  'MAP other.test 127.0.0.1',
  'MAP issuer.test 127.0.0.1',
  'MAP evil.test 127.0.0.1',
  'MAP *.evil.test 127.0.0.1',
  'MAP * ~NOTFOUND',
].join(', ')

export const BASE_ARGS: readonly string[] = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
  // Explicit-port http URLs are not upgraded anyway; this keeps Chromium from even trying.
  '--disable-features=HttpsUpgrades,HttpsFirstBalancedModeAutoEnable,MediaRouter,OptimizationHints',
  `--host-resolver-rules=${HOST_RULES}`,
]

let cached: Promise<string | null> | undefined

function lockDir(): string {
  return join(tmpdir(), 'preview-gateway-chromium-install.lock')
}

function acquireLock(deadline: number): boolean {
  for (;;) {
    try {
      mkdirSync(lockDir())
      return true
    } catch {
      // Someone else installs; a lock older than 15 minutes is stale.
      try {
        if (Date.now() - statSync(lockDir()).mtimeMs > 15 * 60_000) rmSync(lockDir(), { recursive: true, force: true })
      } catch { /* gone meanwhile */ }
      if (existsSync(CHROMIUM_PATH)) return false
      if (Date.now() > deadline) return false
      spawnSync('sleep', ['1'])
    }
  }
}

function install(): string | null {
  const deadline = Date.now() + 12 * 60_000
  const locked = acquireLock(deadline)
  try {
    if (existsSync(CHROMIUM_PATH)) return null
    if (!locked) return `another process held the install lock and ${CHROMIUM_PATH} did not appear`
    process.stderr.write(`\n[browser tests] ${CHROMIUM_PATH} is missing: running apt-get update && apt-get install -y chromium …\n`)
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
    const update = spawnSync('apt-get', ['update'], { env, encoding: 'utf8', timeout: 5 * 60_000 })
    if (update.status !== 0) return `apt-get update failed (status ${update.status}): ${(update.stderr ?? '').slice(-800)}`
    const inst = spawnSync('apt-get', ['install', '-y', 'chromium'], { env, encoding: 'utf8', timeout: 10 * 60_000 })
    if (inst.status !== 0) return `apt-get install -y chromium failed (status ${inst.status}): ${(inst.stderr ?? '').slice(-800)}`
    if (!existsSync(CHROMIUM_PATH)) return `apt-get install -y chromium succeeded but ${CHROMIUM_PATH} is still missing`
    process.stderr.write('[browser tests] chromium installed\n')
    return null
  } finally {
    if (locked) rmSync(lockDir(), { recursive: true, force: true })
  }
}

/**
 * Makes sure Chromium is there. Resolves with null when it is, or with the reason it is not
 * (printed loudly to stderr): callers skip their browser tests with that reason.
 */
export function ensureChromium(): Promise<string | null> {
  cached ??= Promise.resolve().then(() => {
    if (existsSync(CHROMIUM_PATH)) return null
    let why: string | null
    try {
      why = install()
    } catch (err) {
      why = `installing chromium threw: ${err instanceof Error ? err.message : String(err)}`
    }
    if (why !== null) {
      const bar = '!'.repeat(78)
      process.stderr.write(`\n${bar}\n!! BROWSER TESTS SKIPPED: Chromium is not available.\n!! ${why}\n${bar}\n\n`)
    }
    return why
  })
  return cached
}

export interface LaunchChromiumOptions {
  /** Extra command-line switches (e.g. `--ignore-certificate-errors`). */
  readonly extraArgs?: readonly string[]
  readonly timeoutMs?: number
}

/** A headless Chromium with the loopback host mapping. Close it in an `after` hook. */
export async function launchChromium(o: LaunchChromiumOptions = {}): Promise<Browser> {
  const opts: LaunchOptions = {
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: [...BASE_ARGS, ...(o.extraArgs ?? [])],
    timeout: o.timeoutMs ?? 30_000,
    // Keep the child's environment small and free of proxies: traffic must stay on loopback.
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root', LANG: 'C.UTF-8' },
  }
  return chromium.launch(opts)
}
