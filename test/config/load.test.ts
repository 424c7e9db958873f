import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ConfigError, loadConfig } from '../../src/config/load.js'
import { KEYS } from '../../src/config/keys.js'

const ROOT = fileURLToPath(new URL('../../..', import.meta.url))

function problems(env: Record<string, string>, cwd = mkdtempSync(join(tmpdir(), 'cfg-'))): string[] {
  try {
    loadConfig(env, cwd)
    return []
  } catch (err) {
    assert.ok(err instanceof ConfigError)
    return [...err.problems]
  }
}

test('SPEC §8: README table lists every key with its default', { timeout: 5000 }, () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
  for (const [key, spec] of Object.entries(KEYS)) {
    const row = readme.split('\n').find((l) => l.startsWith(`| \`${key}\` |`))
    assert.ok(row, `README has no row for ${key}`)
    const def = (spec as { default?: string }).default
    assert.ok(row.includes(def === undefined ? '| — |' : `| \`${def}\` |`), `README default of ${key}`)
  }
})

test('SPEC §8: missing or empty required keys name the key', { timeout: 5000 }, () => {
  assert.deepEqual(problems({ DAYTONA_API_URL: 'http://127.0.0.1:1' }), ['PROXY_API_KEY: required when DAYTONA_API_URL is set'])
  assert.match(problems({ DAYTONA_API_URL: '', PROXY_API_KEY: 'k' })[0] ?? '', /^DAYTONA_API_URL: /)
  assert.match(problems({ PROXY_PORT: '' })[0] ?? '', /^PROXY_PORT: /)
  assert.match(problems({ PROXY_PORT: '70000' })[0] ?? '', /^PROXY_PORT: /)
  assert.match(problems({ ENABLE_TLS: 'yes' })[0] ?? '', /^ENABLE_TLS: /)
  assert.match(problems({ PROXY_DOMAIN: 'not a domain' })[0] ?? '', /^PROXY_DOMAIN: /)
  assert.match(problems({ SESSION_SECRET: 'short' })[0] ?? '', /^SESSION_SECRET: /)
  assert.match(problems({ REDIS_HOST: '' })[0] ?? '', /^REDIS_HOST: /, 'an empty REDIS_HOST is a value, validated')
  assert.match(problems({ COOKIE_DOMAIN: 'x;Path=/;SameSite=None' })[0] ?? '', /^COOKIE_DOMAIN: /, 'it is written into Set-Cookie')
  assert.match(problems({ COOKIE_DOMAIN: 'bad domain!' })[0] ?? '', /^COOKIE_DOMAIN: /)
  assert.equal(loadConfig({ SESSION_SECRET: 'x'.repeat(32), COOKIE_DOMAIN: '.Preview.Example.com' }, mkdtempSync(join(tmpdir(), 'cfg-'))).cookieDomain, 'preview.example.com')
  assert.match(problems({ METRICS_BIND: 'not an ip' })[0] ?? '', /^METRICS_BIND: /)
  const pemDir = mkdtempSync(join(tmpdir(), 'cfg-'))
  writeFileSync(join(pemDir, 'bad.pem'), 'not a pem\n')
  const tlsProblems = problems({ ENABLE_TLS: 'true', TLS_CERT_FILE: join(pemDir, 'bad.pem'), TLS_KEY_FILE: join(pemDir, 'bad.pem') }, pemDir)
  assert.deepEqual(tlsProblems.map((p) => p.split(':')[0]), ['TLS_CERT_FILE', 'TLS_KEY_FILE'], 'a bad PEM names its key')
  assert.match(problems({ ENABLE_TLS: 'true', TLS_CERT_FILE: join(pemDir, 'missing.pem'), TLS_KEY_FILE: join(pemDir, 'bad.pem') }, pemDir)[0] ?? '', /^TLS_CERT_FILE: cannot read/)
  const many = problems({ PROXY_PORT: 'x', LOG_LEVEL: 'loud' })
  assert.equal(many.length, 2)
})

test('SPEC §8: the environment wins over the config file', { timeout: 5000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'cfg-'))
  const file = join(dir, 'gw.json')
  writeFileSync(file, JSON.stringify({ PROXY_PORT: 5000, UPSTREAM_TIMEOUT_SEC: 7, PROXY_DOMAIN: 'file.test' }))
  const c = loadConfig({ CONFIG_FILE: file, PROXY_PORT: '6000', SESSION_SECRET: 'x'.repeat(32) }, dir)
  assert.equal(c.port, 6000)
  assert.equal(c.upstreamTimeoutMs, 7000)
  assert.deepEqual(c.domains, ['file.test'])
  writeFileSync(file, JSON.stringify({ NOPE: 1 }))
  assert.deepEqual(problems({ CONFIG_FILE: file }, dir), [`NOPE: unknown key in ${file}`])
})

test('secret falls back to PROXY_API_KEY; defaults as documented', { timeout: 5000 }, () => {
  const c = loadConfig({ DAYTONA_API_URL: 'http://127.0.0.1:9/api/', PROXY_API_KEY: 'k'.repeat(10) }, mkdtempSync(join(tmpdir(), 'cfg-')))
  assert.equal(c.sessionSecret, 'k'.repeat(10))
  assert.equal(c.apiUrl, 'http://127.0.0.1:9/api')
  assert.equal(c.port, 4000)
  assert.equal(c.upstreamTimeoutMs, 120_000)
  assert.equal(c.keepAliveTimeoutMs, 70_000)
  assert.equal(c.protocol, 'http')
})

test('SPEC §10: TRUSTED_PROXIES takes IPs and CIDRs (v4 and v6), names the key on a bad entry, defaults to nobody', { timeout: 5000 }, () => {
  const cwd = mkdtempSync(join(tmpdir(), 'cfg-'))
  assert.deepEqual(loadConfig({ SESSION_SECRET: 'x'.repeat(40) }, cwd).trustedProxies, [])
  assert.deepEqual(loadConfig({ SESSION_SECRET: 'x'.repeat(40), TRUSTED_PROXIES: '10.0.0.0/8, 192.0.2.7,2001:db8::/32 ,::1' }, cwd).trustedProxies, ['10.0.0.0/8', '192.0.2.7', '2001:db8::/32', '::1'])
  assert.match(problems({ TRUSTED_PROXIES: '10.0.0.0/8,proxy.example' })[0] ?? '', /^TRUSTED_PROXIES: "proxy\.example"/)
  assert.match(problems({ TRUSTED_PROXIES: '10.0.0.0/40' })[0] ?? '', /^TRUSTED_PROXIES: /)
  assert.match(problems({ TRUSTED_PROXIES: '' })[0] ?? '', /^TRUSTED_PROXIES: /)
})
