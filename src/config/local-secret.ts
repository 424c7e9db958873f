import { readFileSync, mkdirSync, writeFileSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { resolve, dirname } from 'node:path'

/**
 * Embedded mode with no secret configured: a random one kept under `.data/` so that share links
 * minted by `npm run share` stay valid across restarts. Never used in Daytona mode.
 */
export function loadOrCreateLocalSecret(cwd: string): string {
  const path = resolve(cwd, '.data/session-secret')
  try {
    const s = readFileSync(path, 'utf8').trim()
    if (s.length >= 32) return s
  } catch { /* create below */ }
  const s = randomBytes(32).toString('base64url')
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 })
  writeFileSync(path, s + '\n', { mode: 0o600 })
  return s
}
