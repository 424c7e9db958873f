import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Writable } from 'node:stream'
import { AccessLog, createLogger, type AccessFields } from '../src/log.js'

function sink(): { lines: string[]; stream: Writable } {
  const lines: string[] = []
  const stream = new Writable({ write(chunk: Buffer, _enc, done) { lines.push(...String(chunk).split('\n').filter((l) => l !== '')); done() } })
  return { lines, stream }
}

const FIELDS: readonly AccessFields[] = [
  { method: 'GET', kind: 'preview', status: 200, upstreamStatus: 200, bytesOut: 100, durationMs: 1.3, upstreamMs: 0.8, sandbox: 'bench', hostHash: 'GzLCjLOMBUgO' },
  { method: 'GET', kind: 'preview', status: 401, bytesOut: 201, durationMs: 1.4, sandbox: undefined, hostHash: 'GzLCjLOMBUgO' },
  { method: 'POST', kind: 'preview', status: 502, upstreamStatus: undefined, bytesOut: 0, durationMs: 12, upstreamMs: undefined, upstreamError: 'reset', sandbox: 'a"b\\c\nd\u2028é', hostHash: undefined },
  { method: 'GET', kind: 'preview', upgrade: 'websocket', status: 101, durationMs: 3.5, sandbox: 'sbx', hostHash: 'x' },
  { method: 'GET', kind: 'preview', status: 200, bytesOut: Number.NaN, durationMs: Number.POSITIVE_INFINITY, sandbox: 'sbx', hostHash: 'x' },
]

test('access lines are what pino writes for the same fields, with the logger\'s bindings, in its destination', { timeout: 5000 }, async () => {
  for (const child of [false, true]) {
    const ours = sink()
    const theirs = sink()
    const a = createLogger('info', ours.stream)
    const b = createLogger('info', theirs.stream)
    const la = child ? a.child({ worker: 2, pid: 1234 }) : a
    const lb = child ? b.child({ worker: 2, pid: 1234 }) : b
    const access = new AccessLog(la)
    for (const f of FIELDS) {
      access.write(f)
      lb.info({ msg: 'access', ...f })
    }
    await new Promise<void>((resolve) => a.flush(() => resolve()))
    await new Promise<void>((resolve) => b.flush(() => resolve()))
    assert.equal(ours.lines.length, FIELDS.length)
    for (let i = 0; i < FIELDS.length; i++) {
      const mine = JSON.parse(ours.lines[i] as string) as Record<string, unknown>
      const pinos = JSON.parse(theirs.lines[i] as string) as Record<string, unknown>
      // The clock is read per line: compare everything else, key order included.
      assert.equal(typeof mine['time'], 'string')
      delete mine['time']
      delete pinos['time']
      assert.deepEqual(Object.entries(mine), Object.entries(pinos), `line ${i} (child: ${child})`)
    }
  }
})
