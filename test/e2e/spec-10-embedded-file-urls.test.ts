/**
 * SPEC §10 on the embedded control plane: each sandbox has a signing key (derived from the session
 * secret), and `npm run share -- --file-url` prints the signed toolbox file URLs the Daytona SDK
 * would, so a local user can download and upload through `/toolbox/{id}/files/…` with no credential.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { FakeRunner } from '../fakes/runner.js'
import { REPO_ROOT, gatewayEnv, startGateway, tempDir } from '../helpers/gateway.js'
import type { GatewayProcess } from '../helpers/gateway.js'

const T = { timeout: 20_000 }
const SECRET = 'e2e-session-secret-0123456789abcdef'

describe('SPEC §10 signed file URLs, embedded control plane and `npm run share -- --file-url`', () => {
  let runner: FakeRunner
  let gw: GatewayProcess
  let registry = ''

  before(async () => {
    runner = await FakeRunner.start()
    registry = join(tempDir(), 'sandboxes.json')
    writeFileSync(registry, JSON.stringify({ sandboxes: { 'emb-files': { runner: { id: 'r1', proxyUrl: runner.url, apiKey: 'emb-runner-key' } }, 'emb-other': { runner: { id: 'r1', proxyUrl: runner.url, apiKey: 'emb-runner-key' } } } }))
    gw = await startGateway({ env: { SANDBOXES_FILE: registry, SESSION_SECRET: SECRET, PROXY_DOMAIN: '127.0.0.1', LOG_LEVEL: 'info' } })
  })
  after(async () => { await gw?.stop(); await runner?.close() })

  /** Runs the CLI the way `npm run share` does (after the build), with the gateway's own settings. */
  function share(args: readonly string[], secret = SECRET): string {
    const env = gatewayEnv({ SANDBOXES_FILE: registry, SESSION_SECRET: secret, PROXY_DOMAIN: '127.0.0.1' }, gw.port)
    const r = spawnSync(process.execPath, [join(REPO_ROOT, 'dist', 'src', 'cli', 'share.js'), ...args], { env, encoding: 'utf8', timeout: 10_000 })
    assert.equal(r.status, 0, r.stderr)
    return r.stdout.trim()
  }

  test('download and upload URLs work with no credential; tampered, foreign-secret or cross-sandbox ones → 401', T, async () => {
    runner.files.set('/home/user/notes.txt', Buffer.from('embedded notes'))
    const dl = share(['--file-url', 'emb-files', '/home/user/notes.txt'])
    assert.match(dl, new RegExp(`^http://127\\.0\\.0\\.1:${gw.port}/toolbox/emb-files/files/download\\?path=`))
    const got = await fetch(dl)
    assert.equal(got.status, 200)
    assert.equal(await got.text(), 'embedded notes')
    assert.equal(runner.requests('emb-files').at(-1)?.headers['x-daytona-authorization'], 'Bearer emb-runner-key')

    const ul = share(['--file-url', 'emb-files', '/home/user/up.bin', '--upload', '--ttl', '0'])
    assert.match(ul, /\/files\/upload-v2\?.*expires=0&/)
    const up = await fetch(ul, { method: 'POST', body: Buffer.from('uploaded bytes'), headers: { 'content-type': 'application/octet-stream' } })
    assert.equal(up.status, 200)
    assert.equal(runner.files.get('/home/user/up.bin')?.toString(), 'uploaded bytes')

    assert.equal((await fetch(share(['--file-url', 'emb-files', '/home/user/notes.txt'], 'another-secret-0123456789abcdef-xyz'))).status, 401, 'signed with another secret')
    assert.equal((await fetch(dl.replace('/emb-files/', '/emb-other/'))).status, 401, 'another sandbox')
    assert.equal((await fetch(dl.replace('notes.txt', 'other.txt'))).status, 401, 'another path')
    assert.equal((await fetch(ul)).status, 401, 'an upload URL used for a download')
  })
})
