import { readFileSync } from 'node:fs'
import { isLabelChars } from '../routing/preview-host.js'
import type { Runner } from './types.js'
import { SANDBOX_STATES } from './sandbox-state.js'

/** One sandbox of the embedded registry (`config/sandboxes.json`). */
export interface RegistrySandbox {
  readonly id: string
  readonly public: boolean
  /** Accepted as `X-Daytona-Preview-Token` or `DAYTONA_SANDBOX_AUTH_KEY`. */
  readonly previewTokens: ReadonlySet<string>
  /** Accepted as a user's `Authorization: Bearer` (stand-in for Daytona's user access check). */
  readonly accessTokens: ReadonlySet<string>
  readonly runner: Runner
  /** Daytona `SandboxState` (default `started`); only a started sandbox has a runner (SPEC §10). */
  readonly state: string
  /** SPEC §10 per-sandbox warning (with PREVIEW_WARNING_ENABLED); default true. */
  readonly previewWarning: boolean
}

export interface Registry {
  readonly sandboxes: ReadonlyMap<string, RegistrySandbox>
  readonly revokedLinks: ReadonlySet<string>
  readonly demoApp: { readonly host: string; readonly port: number } | undefined
}

function strings(v: unknown, where: string, problems: string[]): string[] {
  if (v === undefined) return []
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string' && x.length > 0)) {
    problems.push(`${where}: must be an array of non-empty strings`)
    return []
  }
  return v as string[]
}

function httpUrl(v: unknown): string | null {
  if (typeof v !== 'string') return null
  try {
    const u = new URL(v)
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return null
    return v.replace(/\/+$/, '')
  } catch { return null }
}

/** Parses and validates the registry; every problem is reported with its JSON path. */
export function parseRegistry(text: string, file: string): Registry {
  let doc: unknown
  try { doc = JSON.parse(text) } catch (err) { throw new Error(`${file}: not valid JSON (${(err as Error).message})`) }
  const problems: string[] = []
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw new Error(`${file}: must hold a JSON object`)
  const root = doc as Record<string, unknown>
  const sandboxes = new Map<string, RegistrySandbox>()
  const list = root.sandboxes ?? {}
  if (list === null || typeof list !== 'object' || Array.isArray(list)) problems.push('sandboxes: must be an object keyed by sandbox id')
  else {
    for (const [id, raw] of Object.entries(list as Record<string, unknown>)) {
      const where = `sandboxes.${id}`
      if (!isLabelChars(id)) { problems.push(`${where}: id may hold only [A-Za-z0-9_-]`); continue }
      if (raw === null || typeof raw !== 'object') { problems.push(`${where}: must be an object`); continue }
      const s = raw as Record<string, unknown>
      if (s.public !== undefined && typeof s.public !== 'boolean') problems.push(`${where}.public: must be true or false`)
      if (s.previewWarning !== undefined && typeof s.previewWarning !== 'boolean') problems.push(`${where}.previewWarning: must be true or false`)
      if (s.state !== undefined && (typeof s.state !== 'string' || !SANDBOX_STATES.has(s.state))) problems.push(`${where}.state: must be a sandbox state such as started, stopped, archived, error`)
      const upstreams: Record<string, string> = {}
      if (s.ports !== undefined) {
        if (s.ports === null || typeof s.ports !== 'object') problems.push(`${where}.ports: must map port numbers to upstream URLs`)
        else for (const [port, url] of Object.entries(s.ports as Record<string, unknown>)) {
          const n = Number(port)
          const u = httpUrl(url)
          if (!/^\d+$/.test(port) || n < 1 || n > 65535) problems.push(`${where}.ports.${port}: not a port number`)
          else if (u === null) problems.push(`${where}.ports.${port}: must be an http(s) URL such as http://127.0.0.1:5173`)
          else upstreams[String(n)] = u
        }
      }
      let runner: Runner = { proxyUrl: '', apiKey: '', upstreams }
      if (s.runner !== undefined) {
        const r = s.runner as Record<string, unknown> | null
        const proxyUrl = httpUrl(r?.proxyUrl)
        if (r === null || typeof r !== 'object' || proxyUrl === null) problems.push(`${where}.runner.proxyUrl: must be an http(s) URL`)
        else if (typeof r.apiKey !== 'string') problems.push(`${where}.runner.apiKey: must be a string`)
        else runner = {
          ...(typeof r.id === 'string' ? { id: r.id } : {}),
          proxyUrl,
          apiKey: r.apiKey,
          ...(typeof r.apiUrl === 'string' ? { apiUrl: r.apiUrl } : {}),
          upstreams,
        }
      }
      sandboxes.set(id, {
        id,
        public: s.public === true,
        previewTokens: new Set(strings(s.previewTokens, `${where}.previewTokens`, problems)),
        accessTokens: new Set(strings(s.accessTokens, `${where}.accessTokens`, problems)),
        runner,
        state: typeof s.state === 'string' && SANDBOX_STATES.has(s.state) ? s.state : 'started',
        previewWarning: s.previewWarning !== false,
      })
    }
  }
  const revokedLinks = new Set(strings(root.revokedLinks, 'revokedLinks', problems))
  let demoApp: Registry['demoApp']
  if (root.demoApp !== undefined) {
    const d = root.demoApp as Record<string, unknown> | null
    const port = Number(d?.port)
    if (d === null || typeof d !== 'object' || !Number.isInteger(port) || port < 1 || port > 65535) problems.push('demoApp.port: must be a port number')
    else demoApp = { host: typeof d.host === 'string' ? d.host : '127.0.0.1', port }
  }
  for (const k of Object.keys(root)) {
    if (k !== 'sandboxes' && k !== 'revokedLinks' && k !== 'demoApp' && k !== '$comment') problems.push(`${k}: unknown key`)
  }
  if (problems.length > 0) throw new Error(`${file}: ${problems.join('; ')}`)
  return { sandboxes, revokedLinks, demoApp }
}

export function readRegistry(file: string): Registry {
  return parseRegistry(readFileSync(file, 'utf8'), file)
}
