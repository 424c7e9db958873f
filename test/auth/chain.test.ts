import { test } from 'node:test'
import assert from 'node:assert/strict'
import { AuthChain, type AuthDecision, type Credentials } from '../../src/auth/chain.js'
import { SessionSigner } from '../../src/auth/session.js'
import type { ControlPlane } from '../../src/control-plane/types.js'
import { Resolver } from '../../src/resolve/resolver.js'
import { stubControlPlane } from '../fakes/control-plane-stub.js'

/** The platform's answers: sandbox `pub` is public, `priv` takes the token `good` and the bearer `user`. */
function platform(calls: string[]): ControlPlane {
  return stubControlPlane({
    isPublic: async (id) => { calls.push(`public ${id}`); return id === 'pub' },
    validatePreviewToken: async (id, t) => { calls.push(`token ${id}`); return id === 'priv' && t === 'good' },
    hasAccess: async (id, b) => { calls.push(`access ${id}`); return id === 'priv' && b === 'user' },
    sandboxIdFromSignedToken: async () => { calls.push('signed'); return null },
    runnerBySandbox: async () => null,
  })
}

const nobody = { once: () => undefined, removeListener: () => undefined }

function creds(c: Partial<Credentials>): Credentials {
  return { bearer: undefined, previewToken: undefined, queryKey: undefined, sessionCookie: undefined, ...c }
}

const CASES: ReadonlyArray<{ label: string; port: number; c: Credentials; toolbox?: boolean }> = [
  { label: 'pub', port: 3000, c: creds({}) },
  { label: 'pub', port: 3000, c: creds({ bearer: 'app-own' }) },
  { label: 'priv', port: 3000, c: creds({ previewToken: 'good' }) },
  { label: 'priv', port: 3000, c: creds({ previewToken: 'bad' }) },
  { label: 'priv', port: 3000, c: creds({ bearer: 'user' }) },
  { label: 'priv', port: 3000, c: creds({ bearer: 'stranger', previewToken: 'good' }) },
  { label: 'priv', port: 3000, c: creds({ queryKey: 'good' }) },
  { label: 'priv', port: 22222, c: creds({ previewToken: 'good' }) },
  { label: 'pub', port: 22222, c: creds({}) },
  { label: 'priv', port: 3000, c: creds({ previewToken: 'good' }), toolbox: true },
  { label: 'priv', port: 3000, c: creds({}) },
]

test('the warm path allows exactly what the full chain allows once the answers are cached, and asks nothing', { timeout: 10_000 }, async () => {
  for (const k of CASES) {
    const calls: string[] = []
    const decisions: string[] = []
    const hits: string[] = []
    const chain = new AuthChain({
      resolver: new Resolver({ controlPlane: platform(calls), maxEntries: 100, onLookup: (cache, result) => { if (result === 'hit') hits.push(cache) } }),
      sessions: new SessionSigner('0123456789abcdef0123456789abcdef'),
      onDecision: (method, result) => decisions.push(`${method} ${result}`),
    })
    const toolbox = k.toolbox ?? false
    const what = JSON.stringify(k)
    // Cold: nothing cached, so the warm path cannot decide (and counts no decision).
    assert.equal(chain.allowedNow(k.label, k.port, k.c, toolbox, undefined), undefined, what)
    assert.deepEqual(decisions, [], what)
    assert.equal(hits.length, 0, what)
    await chain.authenticate({ label: k.label, port: k.port, credentials: k.c, toolbox, waiter: nobody })
    // Warm: the full chain once more, to see which cache hits it counts.
    hits.length = 0
    const full: AuthDecision = await chain.authenticate({ label: k.label, port: k.port, credentials: k.c, toolbox, waiter: nobody })
    const fullHits = hits.splice(0).sort()
    const asked = calls.length
    const now = chain.allowedNow(k.label, k.port, k.c, toolbox, undefined)
    if (full.verdict === 'allow') {
      assert.deepEqual(now, full, what)
      assert.equal(decisions.length, 3, what)
      assert.equal(decisions[2], decisions[1], what)
      assert.deepEqual(hits.sort(), fullHits, `${what}: the warm path counts the cache hits the full chain counts`)
    } else {
      assert.equal(now, undefined, `${what}: only an allow is decided without asking`)
      assert.equal(decisions.length, 2, what)
      assert.deepEqual(hits, [], `${what}: a warm path that gives up counts no lookup (the full chain counts them)`)
    }
    assert.equal(calls.length, asked, `${what}: the warm path made a control-plane call`)
  }
})
