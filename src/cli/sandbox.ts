import { ConfigError, loadConfig } from '../config/load.js'
import { readRegistry } from '../control-plane/registry.js'
import { writeSandboxState } from '../control-plane/registry-state.js'
import { SANDBOX_STATES } from '../control-plane/sandbox-state.js'

/**
 * `npm run sandbox -- stop|start|archive <id>` moves a sandbox of the embedded control plane
 * between states, as the Daytona platform would (SPEC §10), by writing `state` into the registry
 * file; the running gateway picks the change up within a second. With WAKE_ON_REQUEST=true, a
 * visit to a stopped sandbox starts it again. `npm run sandbox -- list` shows every sandbox.
 */
const USAGE = 'usage: npm run sandbox -- stop|start|archive <sandboxId>\n       npm run sandbox -- state <sandboxId> <state>\n       npm run sandbox -- list'
const VERBS: Readonly<Record<string, string>> = { stop: 'stopped', start: 'started', archive: 'archived' }

function fail(msg: string): never {
  process.stderr.write(msg + '\n')
  process.exit(2)
}

function main(argv: readonly string[]): void {
  let config
  try { config = loadConfig(process.env) } catch (err) {
    if (err instanceof ConfigError) fail(err.problems.map((p) => `config error: ${p}`).join('\n'))
    throw err
  }
  if (config.apiUrl !== undefined) fail('with DAYTONA_API_URL set, sandboxes are started and stopped by the Daytona platform; this command serves the embedded control plane only')
  const [verb, id, arg] = argv
  if (verb === 'list') {
    for (const s of readRegistry(config.sandboxesFile).sandboxes.values()) {
      process.stdout.write(`${s.id}\t${s.state}\t${s.public ? 'public' : 'private'}\tports ${Object.keys(s.runner.upstreams ?? {}).join(',') || '-'}\n`)
    }
    return
  }
  if (verb === undefined || id === undefined) fail(USAGE)
  const state = verb === 'state' ? arg : VERBS[verb]
  if (state === undefined) fail(USAGE)
  if (!SANDBOX_STATES.has(state)) fail(`not a sandbox state: ${state} (one of ${[...SANDBOX_STATES].join(', ')})`)
  if (!readRegistry(config.sandboxesFile).sandboxes.has(id)) fail(`no sandbox ${JSON.stringify(id)} in ${config.sandboxesFile}`)
  writeSandboxState(config.sandboxesFile, id, state)
  process.stdout.write(`${id}: ${state}\n`)
}

main(process.argv.slice(2))
