// Runs every compiled test (dist/test/**/*.test.js) with node:test. Exit code passes through.
import { readdirSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const dir = join(root, 'dist', 'test')
const files = []
function walk(d) {
  for (const name of readdirSync(d)) {
    const p = join(d, name)
    if (statSync(p).isDirectory()) walk(p)
    else if (name.endsWith('.test.js')) files.push(relative(root, p))
  }
}
walk(dir)
files.sort()
const only = process.argv.slice(2)
const selected = only.length ? files.filter((f) => only.some((o) => f.includes(o))) : files
if (selected.length === 0) { console.error('no test files found under dist/test'); process.exit(1) }
const r = spawnSync(process.execPath, ['--test', '--test-concurrency=2', '--test-timeout=120000', ...selected], { cwd: root, stdio: 'inherit' })
process.exit(r.status ?? 1)
