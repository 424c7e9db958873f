/**
 * `npm start` (package.json) and deploy/Dockerfile start node alike: the same V8 flag and the same
 * glibc malloc tunables (README "Runtime settings"). The bench reads them from the start script
 * (bench/harness.ts startScriptEnv), so the numbers in bench/RESULTS.md are those of what ships.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { isV8Line13, TURBOFAN_INVOCATIONS } from '../../src/v8-flags.js'
import { startScript as startScriptOf, startScriptEnv, startScriptNodeFlags } from '../../bench/harness.js'

const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
const read = (p: string): string => readFileSync(join(ROOT, p), 'utf8')
const T = { timeout: 10_000 }

function startScript(): string {
  const script = startScriptOf(ROOT)
  assert.notEqual(script, '', 'package.json has no start script')
  return script
}

function dockerfileEnv(): Record<string, string> {
  const env: Record<string, string> = {}
  for (const m of read('deploy/Dockerfile').matchAll(/^ENV\s+(.+)$/gm)) {
    for (const pair of (m[1] as string).trim().split(/\s+/)) {
      const eq = pair.indexOf('=')
      if (eq > 0) env[pair.slice(0, eq)] = pair.slice(eq + 1)
    }
  }
  return env
}

test('npm start and the Dockerfile give node the same malloc tunables', T, () => {
  const fromStart = startScriptEnv(ROOT)
  assert.match(fromStart['GLIBC_TUNABLES'] ?? '', /^glibc\.malloc\.trim_threshold=\d+:glibc\.malloc\.top_pad=\d+$/, 'npm start sets GLIBC_TUNABLES=${GLIBC_TUNABLES:-…}')
  assert.equal(dockerfileEnv()['GLIBC_TUNABLES'], fromStart['GLIBC_TUNABLES'], 'deploy/Dockerfile ENV GLIBC_TUNABLES differs from npm start')
})

test('npm start and the Dockerfile run node with the same V8 flags', T, () => {
  const fromStart = startScriptNodeFlags(ROOT)
  const cmd = /^CMD \[(.+)\]$/m.exec(read('deploy/Dockerfile'))?.[1] ?? ''
  const dockerFlags = (JSON.parse(`[${cmd}]`) as string[]).filter((w) => w.startsWith('--'))
  assert.ok(fromStart.length > 0, `npm start: ${startScript()}`)
  assert.deepEqual(dockerFlags, fromStart)
})

test('the start script keeps an operator\'s own GLIBC_TUNABLES and sets ours otherwise (as sh expands it)', T, () => {
  const assignment = /\bGLIBC_TUNABLES=\$\{GLIBC_TUNABLES:-[^}]*\}/.exec(startScript())?.[0]
  assert.ok(assignment !== undefined)
  const expand = (env: NodeJS.ProcessEnv): string => execFileSync('sh', ['-c', `${assignment} exec sh -c 'printf %s "$GLIBC_TUNABLES"'`], { env, encoding: 'utf8' })
  const { GLIBC_TUNABLES: _drop, ...without } = process.env
  void _drop
  assert.equal(expand(without), startScriptEnv(ROOT)['GLIBC_TUNABLES'])
  assert.equal(expand({ ...without, GLIBC_TUNABLES: 'glibc.malloc.arena_max=2' }), 'glibc.malloc.arena_max=2')
})

/**
 * What a download does to the heap: every 64 KiB socket read is a fresh external buffer, dead a moment
 * later, with a few small objects beside it. 1 GiB of them, 64 in flight, in batches across event-loop
 * turns (V8 finishes incremental marking from tasks).
 */
const DOWNLOAD_CHURN = `
const { applyV8Flags } = await import(process.argv[1])
applyV8Flags()
const ring = new Array(64), objs = new Array(256)
let n = 0
await new Promise((done) => {
  const batch = () => {
    for (let i = 0; i < 64; i++, n++) { ring[n % 64] = Buffer.allocUnsafeSlow(65536); objs[n % 256] = { n, s: 'x' + n } }
    if (n < 16384) setImmediate(batch); else done()
  }
  batch()
})
`

test('with npm start\'s V8 flags and src/v8-flags.ts, download-like buffer churn causes no run of full collections', { timeout: 30_000 }, () => {
  // On Node 24 without src/v8-flags.ts this makes ~10 mark-compacts (one every ~100 MiB, each marking
  // the whole heap) and 0-8 scavenges; with them 0. Node 20 scavenges the buffers away by itself, every
  // ~30 MiB, with 1-3 mark-compacts (more when the machine is loaded: its marking task races them).
  const flagsModule = pathToFileURL(join(ROOT, 'dist/src/v8-flags.js')).href
  const out = execFileSync(process.execPath, [...startScriptNodeFlags(ROOT), '--trace-gc', '--input-type=module', '-e', DOWNLOAD_CHURN, flagsModule], { encoding: 'utf8' })
  const lines = out.split('\n')
  const fullGcs = lines.filter((l) => l.includes('Mark-Compact')).length
  const scavenges = lines.filter((l) => l.includes('Scavenge')).length
  assert.ok(fullGcs <= 5, `${fullGcs} mark-compacts (and ${scavenges} scavenges) for 1 GiB of short-lived 64 KiB buffers on ${process.version}`)
  assert.ok(scavenges >= 20, `${scavenges} scavenges for 1 GiB of short-lived 64 KiB buffers on ${process.version}: dead buffers pile up for over ~50 MiB`)
})

/**
 * Calls until TurboFan has compiled a small loop-free function (its caller is never optimised, so it
 * is not inlined away), up to 6000; %FinalizeOptimization waits for the helper thread's job.
 */
const TIER_UP = `
const { applyV8Flags, lowerTurbofanThresholdOnceWarm } = await import(process.argv[1])
applyV8Flags()
// 'warm': the process counts as warm at once; 'cold': not before an hour of CPU. Either way a few ticks pass first.
await new Promise((ticked) => {
  const lowering = lowerTurbofanThresholdOnceWarm({ warmCpuMs: process.argv[2] === 'warm' ? 0 : 3_600_000, everyMs: 1 })
  setTimeout(() => { lowering.stop(); ticked() }, 20)
})
function hot(o) { return o.a.length + o.b.length * 2 }
function caller(n) { let s = 0; for (let i = 0; i < n; i++) s += hot({ a: 'x', b: 'yy' }); return s }
%NeverOptimizeFunction(caller)
const TURBOFANNED = 64
let calls = 0
while (calls < 6000) {
  caller(10); calls += 10
  if (calls % 100 === 0) { %FinalizeOptimization(); if (%GetOptimizationStatus(hot) & TURBOFANNED) break }
}
process.stdout.write(String(calls))
`

test('on V8 13, once the process is warm, TurboFan recompiles a hot function after a third of the default calls', { timeout: 30_000, skip: !isV8Line13() && `V8 ${process.versions.v8}: the gateway sets no tiering flag on Node 20` }, () => {
  const flagsModule = pathToFileURL(join(ROOT, 'dist/src/v8-flags.js')).href
  const callsToTurbofan = (mode: 'warm' | 'cold'): number =>
    Number(execFileSync(process.execPath, ['--allow-natives-syntax', '--input-type=module', '-e', TIER_UP, flagsModule, mode], { encoding: 'utf8' }))
  const cold = callsToTurbofan('cold')
  const warm = callsToTurbofan('warm')
  assert.ok(cold >= 3000, `not yet warm: TurboFan after ${cold} calls (expected V8's default, ≥ 3000)`)
  assert.ok(warm <= 2 * TURBOFAN_INVOCATIONS && warm * 2 <= cold, `warm: TurboFan after ${warm} calls, before ${cold} (expected ≤ ${2 * TURBOFAN_INVOCATIONS} and under half)`)
})
