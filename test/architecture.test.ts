import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { join, relative, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import { cruise, type ICruiseResult, type IViolation } from 'dependency-cruiser'
import extractDepcruiseOptions from 'dependency-cruiser/config-utl/extract-depcruise-options'
import extractTSConfig from 'dependency-cruiser/config-utl/extract-ts-config'

// Issue 12: layers that only point down, no import cycle, small files. The rules live in
// .dependency-cruiser.cjs (also usable by hand: `npx depcruise --config .dependency-cruiser.cjs src`).
const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const MAX_LINES = 300

function srcFiles(dir = join(ROOT, 'src')): string[] {
  const out: string[] = []
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name)
    if (e.isDirectory()) out.push(...srcFiles(p))
    else if (e.name.endsWith('.ts')) out.push(relative(ROOT, p).split(sep).join('/'))
  }
  return out.sort()
}

function describe(v: IViolation): string {
  const path = v.cycle === undefined ? `${v.from} → ${v.to}` : [v.from, ...v.cycle.map((d) => d.name)].join(' → ')
  return `${v.rule.name} ${path}`
}

async function cruiseSrc(): Promise<ICruiseResult> {
  const options = await extractDepcruiseOptions(join(ROOT, '.dependency-cruiser.cjs'))
  const tsConfig = extractTSConfig(join(ROOT, 'tsconfig.json'))
  const { output } = await cruise(['src'], { ...options, baseDir: ROOT }, {}, { tsConfig })
  assert.ok(typeof output === 'object', 'dependency-cruiser gave no result object')
  return output
}

test('issue 12: src/ has no import cycle and every import points down the layers', { timeout: 60_000 }, async () => {
  const result = await cruiseSrc()
  // The check must see the whole tree, or it passes for nothing.
  const seen = new Set(result.modules.map((m) => m.source))
  assert.deepEqual(srcFiles().filter((f) => !seen.has(f)), [], 'files under src/ that dependency-cruiser did not see')
  const unresolved = result.modules.flatMap((m) => m.dependencies.filter((d) => d.couldNotResolve && d.module.startsWith('.')).map((d) => `${m.source} → ${d.module}`))
  assert.deepEqual(unresolved, [], 'relative imports dependency-cruiser could not resolve')
  const cruised = result.summary.totalDependenciesCruised ?? 0
  assert.ok(cruised > 100, `only ${cruised} imports cruised`)

  const broken = result.summary.violations.map(describe)
  assert.deepEqual(broken, [], `imports that break a rule (rule from → to):\n  ${broken.join('\n  ')}`)
})

test('issue 12: no file under src/ is over 300 lines', { timeout: 10_000 }, () => {
  const lines = (f: string): number => {
    const text = readFileSync(join(ROOT, f), 'utf8')
    return text.split('\n').length - (text.endsWith('\n') ? 1 : 0)
  }
  const long = srcFiles().map((f) => ({ f, n: lines(f) })).filter((x) => x.n > MAX_LINES)
  assert.deepEqual(long.map((x) => `${x.f}: ${x.n} lines`), [], `files over ${MAX_LINES} lines`)
})
