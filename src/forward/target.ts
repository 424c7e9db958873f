import type { Runner } from '../control-plane/types.js'

/** An upstream base: the origin undici connects to and the path prefix in front of the request path. */
export interface UpstreamBase {
  readonly origin: string
  readonly prefix: string
  /** The runner's key, or undefined for a plain upstream (embedded dev servers get no key). */
  readonly runnerKey: string | undefined
}

const parsed = new WeakMap<Runner, Map<string, UpstreamBase | null>>()

function base(url: string, suffix: string, runnerKey: string | undefined): UpstreamBase {
  const u = new URL(url)
  return { origin: u.origin, prefix: u.pathname.replace(/\/+$/, '') + suffix, runnerKey }
}

/**
 * SPEC §6 targets: `{proxyUrl}/sandboxes/{id}/toolbox/proxy/{port}` for previews and
 * `{proxyUrl}/sandboxes/{id}/toolbox` for the toolbox route. The id was charset-checked
 * ([A-Za-z0-9_-]) before it got here, so it needs no encoding. Parsed once per runner answer.
 */
export function upstreamFor(runner: Runner, sandboxId: string, port: number | 'toolbox'): UpstreamBase | null {
  let perRunner = parsed.get(runner)
  if (perRunner === undefined) { perRunner = new Map(); parsed.set(runner, perRunner) }
  const key = `${sandboxId}\0${port}`
  let b = perRunner.get(key)
  if (b !== undefined) return b
  const plain = port === 'toolbox' ? undefined : runner.upstreams?.[String(port)]
  if (plain !== undefined) b = base(plain, '', undefined)
  else if (runner.proxyUrl !== '') b = base(runner.proxyUrl, port === 'toolbox' ? `/sandboxes/${sandboxId}/toolbox` : `/sandboxes/${sandboxId}/toolbox/proxy/${port}`, runner.apiKey)
  else b = null
  perRunner.set(key, b)
  return b
}
