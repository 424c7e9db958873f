/** SPEC §8/§9: WEBHOOK_SECRET and WORKERS are validated at start-up, one line naming the key. */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync } from 'node:fs'
import { availableParallelism, tmpdir } from 'node:os'
import { join } from 'node:path'
import { ConfigError, loadConfig, type Config } from '../../src/config/load.js'

const BASE = { SESSION_SECRET: 'a-session-secret-that-is-long-enough-0123' }

function load(env: Record<string, string>): Config | string[] {
  try {
    return loadConfig({ ...BASE, ...env }, mkdtempSync(join(tmpdir(), 'cfg-')))
  } catch (err) {
    assert.ok(err instanceof ConfigError)
    return [...err.problems]
  }
}

test('WEBHOOK_SECRET: whsec_ + base64, unset = off, anything else names the key without echoing it', { timeout: 5000 }, () => {
  const off = load({})
  assert.ok(!Array.isArray(off) && off.webhookSecret === undefined)
  const on = load({ WEBHOOK_SECRET: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' })
  assert.ok(!Array.isArray(on) && on.webhookSecret === 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw')
  for (const bad of ['', 'MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'whsec_', 'whsec_not base64!!', 'whsec_abcde']) {
    const p = load({ WEBHOOK_SECRET: bad })
    assert.ok(Array.isArray(p), `${JSON.stringify(bad)} refused`)
    assert.equal(p.length, 1)
    assert.match(p[0] ?? '', /^WEBHOOK_SECRET: /)
    if (bad.length > 6) assert.ok(!(p[0] ?? '').includes(bad), 'the secret is not echoed')
  }
})

test('WORKERS: default 1, a number 1-256, or auto (available cores)', { timeout: 5000 }, () => {
  const def = load({})
  assert.ok(!Array.isArray(def) && def.workers === 1)
  const two = load({ WORKERS: '2' })
  assert.ok(!Array.isArray(two) && two.workers === 2)
  const auto = load({ WORKERS: 'auto' })
  assert.ok(!Array.isArray(auto) && auto.workers === Math.min(256, availableParallelism()))
  for (const bad of ['', '0', '-1', '1.5', 'many', '257']) {
    const p = load({ WORKERS: bad })
    assert.ok(Array.isArray(p), `${JSON.stringify(bad)} refused`)
    assert.match(p[0] ?? '', /^WORKERS: /)
  }
})
