/**
 * SPEC §10 — signed toolbox file URLs, driven by the real @daytonaio/sdk 0.218: the SDK (pointed
 * at the fake control plane as its API) hands out `sandbox.downloadUrl()` / `uploadUrl()` URLs on
 * the gateway's toolbox route; plain `fetch` with no credential then downloads and uploads through
 * the gateway to the fake toolbox daemon. Everything that is not the exact signed request → 401.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { createHmac, randomBytes } from 'node:crypto'
import { execFile } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Daytona } from '@daytonaio/sdk'
import type { Sandbox } from '@daytonaio/sdk'
import { DOMAIN, startStack } from '../helpers/stack.js'
import type { SandboxHandle, Stack } from '../helpers/stack.js'
import { assertGatewayError, assertNoSecrets } from '../helpers/assertions.js'
import { sha256 } from '../helpers/http.js'
import { ensureAptBinary } from '../helpers/apt.js'
import { tempDir } from '../helpers/gateway.js'
import type { Reply } from '../helpers/http.js'

const T = { timeout: 30_000 }
const MiB = 1024 * 1024

/** A fetch Response as the Reply the assertions take. */
async function reply(res: Response): Promise<Reply> {
  const body = Buffer.from(await res.arrayBuffer())
  const headers: Record<string, string> = {}
  res.headers.forEach((v, k) => { headers[k] = v })
  return { status: res.status, headers, rawHeaders: [], body, text: body.toString('utf8'), json: () => JSON.parse(body.toString('utf8')) as unknown }
}

/** The SPEC §10 signature, computed independently of the SDK and of the gateway. */
function sign(key: string, method: 'GET' | 'POST', path: string, expires: number | string): string {
  return 'v1_' + createHmac('sha256', key).update(`v1:files:${method}:${path}:${expires}`).digest('base64url')
}

function withParam(url: string, name: string, value: string): string {
  const u = new URL(url)
  u.searchParams.set(name, value)
  return u.toString()
}

/** Runs a command without blocking the event loop (the gateway under test is another process). */
function run(cmd: string, args: readonly string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: 20_000, maxBuffer: 1024 * 1024 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : (typeof error.code === 'number' ? error.code : 1), out: stdout, err: `${stderr}${error?.message ?? ''}` })
    })
  })
}

type Disposable = { [k: symbol]: () => Promise<void> }
const asyncDispose = (Symbol as unknown as { asyncDispose: symbol }).asyncDispose

describe('SPEC §10 signed toolbox file URLs (real @daytonaio/sdk 0.218)', () => {
  let s: Stack
  let a: SandboxHandle
  let b: SandboxHandle
  let daytona: Daytona
  let sdkA: Sandbox
  let toolboxBase = ''

  before(async () => {
    // 127.0.0.1 is a base domain too, so the SDK and fetch reach the toolbox route with no DNS.
    s = await startStack({ PROXY_DOMAIN: `${DOMAIN},127.0.0.1` })
    toolboxBase = `http://127.0.0.1:${s.gw.port}/toolbox`
    s.cp.toolboxProxyUrl = toolboxBase
    a = s.sandbox({ prefix: 'files-a' })
    b = s.sandbox({ prefix: 'files-b' })
    daytona = new Daytona({ apiKey: a.bearer, apiUrl: s.cp.url, target: 'test' })
    sdkA = await daytona.get(a.id)
    assert.equal(sdkA.toolboxProxyUrl, toolboxBase, 'the SDK builds URLs on the gateway toolbox route')
  })

  after(async () => {
    await (daytona as unknown as Disposable)[asyncDispose]?.call(daytona)
    await s?.close()
  })

  test('a download URL from the SDK downloads the file (4 MiB, bytes compared) with no credential', T, async () => {
    const data = randomBytes(4 * MiB)
    s.runner.files.set('/home/daytona/report one.bin', data)
    const url = await sdkA.downloadUrl('/home/daytona/report one.bin')
    assert.ok(url.startsWith(`${toolboxBase}/${a.id}/files/download?`), url)
    const res = await fetch(url)
    assert.equal(res.status, 200)
    const body = Buffer.from(await res.arrayBuffer())
    assert.equal(body.length, data.length)
    assert.equal(sha256(body), sha256(data), 'the bytes arrive unchanged')
    const up = s.runner.requests(a.id).at(-1)
    assert.ok(up !== undefined && up.toolbox)
    assert.equal(up.headers['x-daytona-authorization'], `Bearer ${s.runnerInfo.apiKey}`, 'forwarded with the runner key')
  })

  test('signature and expires are removed upstream; path is kept byte for byte', T, async () => {
    s.runner.files.set('/tmp/a&b=c/ü x.txt', Buffer.from('hello'))
    const url = await sdkA.downloadUrl('/tmp/a&b=c/ü x.txt', 120)
    const rawQuery = url.slice(url.indexOf('?') + 1)
    const pathPart = rawQuery.split('&').find((p) => p.startsWith('path='))
    const res = await fetch(`${url}&keep=1`)
    assert.equal(res.status, 200)
    assert.equal(await res.text(), 'hello')
    const up = s.runner.requests(a.id).at(-1)
    assert.ok(up !== undefined)
    assert.equal(up.rest, `/files/download?${pathPart}&keep=1`, 'only signature and expires were cut out')
  })

  test('HEAD signs as GET', T, async () => {
    s.runner.files.set('/head.bin', Buffer.alloc(1234, 7))
    const res = await fetch(await sdkA.downloadUrl('/head.bin'), { method: 'HEAD' })
    assert.equal(res.status, 200)
    assert.equal(res.headers.get('content-length'), '1234')
    assert.equal(s.runner.requests(a.id).at(-1)?.method, 'HEAD')
  })

  test('an upload URL from the SDK uploads (multipart, 3 MiB) with no credential; ttl 0 never expires', T, async () => {
    const data = randomBytes(3 * MiB)
    const url = await sdkA.uploadUrl('/home/daytona/up.bin', 0)
    assert.match(url, /[?&]expires=0(&|$)/)
    const form = new FormData()
    form.append('file', new Blob([data]), 'up.bin')
    const res = await fetch(url, { method: 'POST', body: form })
    assert.equal(res.status, 200, await res.clone().text())
    const stored = s.runner.files.get('/home/daytona/up.bin')
    assert.ok(stored !== undefined, 'the daemon received the file')
    assert.equal(sha256(stored), sha256(data), 'the bytes arrive unchanged')
    const up = s.runner.requests(a.id).at(-1)
    assert.ok(up !== undefined)
    assert.ok(!/[?&](signature|expires)=/.test(up.rest), `no signature/expires upstream: ${up.rest}`)
  })

  test('curl as the SDK documents it: -X POST -F file=@… (Expect: 100-continue, 6 MiB) and -o', T, async (t) => {
    const missing = ensureAptBinary('curl', '/usr/bin/curl')
    if (missing !== null) { t.skip(`curl unavailable: ${missing}`); return }
    const dir = tempDir('signed-curl-')
    const data = randomBytes(6 * MiB)
    writeFileSync(join(dir, 'local.bin'), data)
    const ul = await sdkA.uploadUrl('/home/daytona/curl.bin')
    const up = await run('/usr/bin/curl', ['-sS', '--fail-with-body', '-X', 'POST', '-F', `file=@${join(dir, 'local.bin')}`, ul])
    assert.equal(up.code, 0, up.err)
    assert.equal(sha256(s.runner.files.get('/home/daytona/curl.bin') ?? Buffer.alloc(0)), sha256(data), 'uploaded unchanged')
    const dl = await run('/usr/bin/curl', ['-sS', '--fail-with-body', await sdkA.downloadUrl('/home/daytona/curl.bin'), '-o', join(dir, 'back.bin')])
    assert.equal(dl.code, 0, dl.err)
    assert.equal(sha256(readFileSync(join(dir, 'back.bin'))), sha256(data), 'downloaded unchanged')
    const bad = await run('/usr/bin/curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', '-X', 'POST', '-F', `file=@${join(dir, 'local.bin')}`, withParam(ul, 'path', '/etc/x')])
    assert.equal(bad.out, '401', 'a tampered upload URL is refused (the body is discarded)')
  })

  test('expired, wrong method, wrong operation, wrong sandbox, wrong path, tampered or truncated → 401', T, async () => {
    s.runner.files.set('/f.txt', Buffer.from('secret file'))
    const key = a.state.signingKey
    const past = Math.floor(Date.now() / 1000) - 5
    const dl = await sdkA.downloadUrl('/f.txt')
    const ul = await sdkA.uploadUrl('/f.txt')
    const sig = new URL(dl).searchParams.get('signature') ?? ''
    const flipped = sig.slice(0, 10) + (sig[10] === 'A' ? 'B' : 'A') + sig.slice(11)
    const before = s.runner.requests().length
    const cases: Array<{ what: string; url: string; method?: string }> = [
      { what: 'expired', url: `${toolboxBase}/${a.id}/files/download?path=%2Ff.txt&expires=${past}&signature=${sign(key, 'GET', '/f.txt', past)}` },
      { what: 'download URL with POST', url: dl, method: 'POST' },
      { what: 'upload URL with GET', url: ul },
      { what: 'download signature on upload-v2', url: dl.replace('/files/download?', '/files/upload-v2?'), method: 'POST' },
      { what: 'upload signature on download', url: ul.replace('/files/upload-v2?', '/files/download?') },
      { what: 'another sandbox', url: dl.replace(`/${a.id}/`, `/${b.id}/`) },
      { what: 'another path', url: withParam(dl, 'path', '/etc/passwd') },
      { what: 'a later expiry', url: withParam(dl, 'expires', String(Number(new URL(dl).searchParams.get('expires')) + 3600)) },
      { what: 'tampered signature', url: withParam(dl, 'signature', flipped) },
      { what: 'truncated signature', url: withParam(dl, 'signature', sig.slice(0, -1)) },
      { what: 'signature with a character appended', url: withParam(dl, 'signature', `${sig}A`) },
      { what: 'signature without the v1_ prefix', url: withParam(dl, 'signature', sig.slice(3)) },
      { what: 'empty signature', url: withParam(dl, 'signature', '') },
      { what: 'expires missing', url: dl.replace(/&expires=\d+/, '') },
      { what: 'path given twice', url: `${dl}&path=%2Fetc%2Fpasswd` },
      { what: 'signed with another key', url: withParam(dl, 'signature', sign(b.state.signingKey, 'GET', '/f.txt', new URL(dl).searchParams.get('expires') ?? '')) },
      { what: 'unknown sandbox', url: dl.replace(`/${a.id}/`, '/no-such-sandbox/') },
    ]
    for (const c of cases) {
      const r = await reply(await fetch(c.url, { method: c.method ?? 'GET', ...(c.method === 'POST' ? { body: 'x' } : {}) }))
      assert.equal(r.status, 401, `${c.what}: ${r.text.slice(0, 200)}`)
      assertGatewayError(r, 401, 'UNAUTHORIZED')
    }
    assert.equal(s.runner.requests().length, before, 'nothing reached the daemon')
    // The valid ones still work.
    assert.equal((await fetch(dl)).status, 200)
  })

  test('a rotated key is accepted after one re-fetch; the old URLs die', T, async () => {
    s.runner.files.set('/rot.txt', Buffer.from('rotating'))
    const oldUrl = await sdkA.downloadUrl('/rot.txt')
    assert.equal((await fetch(oldUrl)).status, 200, 'the current key is cached')
    const keyCalls = (): number => s.cp.calls(`/preview/${a.id}/signing-key`).length
    const calls0 = keyCalls()
    await sdkA.rotateSigningKey()
    const newUrl = await sdkA.downloadUrl('/rot.txt')
    assert.notEqual(newUrl, oldUrl)
    const r = await fetch(newUrl)
    assert.equal(r.status, 200, 'the new key was fetched once more on the mismatch')
    assert.equal(await r.text(), 'rotating')
    assert.equal(keyCalls(), calls0 + 1, 'exactly one re-fetch')
    assert.equal((await fetch(newUrl)).status, 200)
    assertGatewayError(await reply(await fetch(oldUrl)), 401, 'UNAUTHORIZED')
  })

  test('concurrent requests share one signing-key call, and concurrent mismatches one re-fetch', T, async () => {
    const c = s.sandbox({ prefix: 'files-c' })
    s.runner.files.set('/c.txt', Buffer.from('c'))
    const exp = Math.floor(Date.now() / 1000) + 600
    const good = `${toolboxBase}/${c.id}/files/download?path=%2Fc.txt&expires=${exp}&signature=${sign(c.state.signingKey, 'GET', '/c.txt', exp)}`
    const statuses = await Promise.all(Array.from({ length: 30 }, async () => (await fetch(good)).status))
    assert.deepEqual([...new Set(statuses)], [200])
    assert.equal(s.cp.calls(`/preview/${c.id}/signing-key`).length, 1, 'one signing-key call for 30 concurrent requests')
    const bad = withParam(good, 'signature', sign('not-the-key', 'GET', '/c.txt', exp))
    // The re-fetch is slow (1.5 s), as a busy platform's is: requests that come while it is in
    // flight join it and take its answer as final, however the event loop spreads their arrival.
    s.cp.script(`/preview/${c.id}/signing-key`, [{ delayMs: 1500 }], { repeatLast: true })
    const bads = await Promise.all(Array.from({ length: 30 }, async () => (await fetch(bad)).status))
    assert.deepEqual([...new Set(bads)], [401])
    const calls = s.cp.calls(`/preview/${c.id}/signing-key`).length
    assert.equal(calls - 1, 1, '30 concurrent bad signatures: one re-fetch')
  })

  test('a signing key answered as plain text works too; a failing signing-key call is 502/503, never a yes', T, async () => {
    const d = s.sandbox({ prefix: 'files-d' })
    s.runner.files.set('/d.txt', Buffer.from('d'))
    const exp = Math.floor(Date.now() / 1000) + 600
    const url = `${toolboxBase}/${d.id}/files/download?path=%2Fd.txt&expires=${exp}&signature=${sign(d.state.signingKey, 'GET', '/d.txt', exp)}`
    s.cp.script(`/preview/${d.id}/signing-key`, [{ status: 500 }], { repeatLast: true })
    assertGatewayError(await reply(await fetch(url)), [502, 503], 'CONTROL_PLANE_UNAVAILABLE')
    s.cp.script(`/preview/${d.id}/signing-key`, [{ status: 200, rawBody: d.state.signingKey, headers: { 'content-type': 'text/html; charset=utf-8' } }])
    const r = await fetch(url)
    assert.equal(r.status, 200)
    assert.equal(await r.text(), 'd')
  })

  test('other toolbox requests are authenticated as before; the signing key is never logged', T, async () => {
    s.runner.files.set('/plain.txt', Buffer.from('plain'))
    assertGatewayError(await reply(await fetch(`${toolboxBase}/${a.id}/files/download?path=%2Fplain.txt`)), 401, 'UNAUTHORIZED')
    const ok = await fetch(`${toolboxBase}/${a.id}/files/download?path=%2Fplain.txt`, { headers: { authorization: `Bearer ${a.bearer}` } })
    assert.equal(ok.status, 200)
    assert.equal(await ok.text(), 'plain')
    assertNoSecrets(s.gw.output(), { signingKeyA: a.state.signingKey, signingKeyB: b.state.signingKey }, 'gateway log')
  })
})
