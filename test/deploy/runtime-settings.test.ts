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
import { fileURLToPath } from 'node:url'
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
