import { readFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { availableParallelism } from 'node:os'
import { resolve, dirname } from 'node:path'
import { KEYS, type ConfigKey, type KeySpec } from './keys.js'
import { parseTrustedProxy } from '../forward/trusted-proxies.js'

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent'

/** Validated, frozen configuration. Built once by loadConfig and trusted afterwards. */
export interface Config {
  readonly port: number
  readonly bind: string
  readonly protocol: 'http' | 'https'
  readonly domains: readonly string[]
  readonly publicPort: number | undefined
  readonly apiKey: string | undefined
  readonly apiUrl: string | undefined
  readonly sandboxesFile: string
  readonly sessionSecret: string
  readonly sessionTtlSec: number
  readonly apiTimeoutMs: number
  readonly upstreamTimeoutMs: number
  readonly upstreamIdleTimeoutMs: number
  readonly clientIdleTimeoutMs: number
  readonly keepAliveTimeoutMs: number
  readonly corsAllowedOrigins: readonly string[]
  /** SPEC §10 TRUSTED_PROXIES: validated IP/CIDR entries (empty: trust no peer's X-Forwarded-*). */
  readonly trustedProxies: readonly string[]
  readonly cookieDomain: string | undefined
  readonly cookiePartitioned: boolean
  readonly toolboxOnly: boolean
  readonly previewWarning: boolean
  /** SPEC §10 wake on visit. */
  readonly wakeOnRequest: boolean
  readonly tls: { readonly cert: string; readonly key: string } | undefined
  readonly metricsPort: number | undefined
  readonly oidc: {
    readonly clientId: string | undefined
    readonly clientSecret: string | undefined
    readonly domain: string | undefined
    readonly publicDomain: string | undefined
    readonly audience: string | undefined
  }
  readonly redis: { readonly host: string; readonly port: number; readonly username?: string; readonly password?: string; readonly tls: boolean } | undefined
  /** Standard Webhooks signing secret (`whsec_…`); undefined = webhook route off (404). */
  readonly webhookSecret: string | undefined
  /** Processes sharing PROXY_PORT; 1 = no cluster. */
  readonly workers: number
  readonly shutdownTimeoutMs: number
  readonly shutdownDelayMs: number
  readonly cacheMaxEntries: number
  readonly maxConnections: number
  readonly maxConnectionsPerSandbox: number
  readonly overloadLagMs: number
  readonly accessLog: boolean
  readonly metricsBind: string
  readonly logLevel: LogLevel
  /** Raw effective values (for the start-up line; secrets masked by the printer). */
  readonly effective: Readonly<Partial<Record<ConfigKey, string>>>
}

export class ConfigError extends Error {
  readonly problems: readonly string[]
  constructor(problems: string[]) {
    super(problems.join('\n'))
    this.name = 'ConfigError'
    this.problems = problems
  }
}

type Source = Partial<Record<string, string>>

const DOMAIN_RE = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/
/** Standard Webhooks secrets: `whsec_` + base64 of at least 8 key bytes. */
const WEBHOOK_SECRET_RE = /^whsec_[A-Za-z0-9+/]{11,}={0,2}$/
const MAX_WORKERS = 256

/** `auto` = the cores this process may use; otherwise a whole number in range. */
function parseWorkers(v: string): number | undefined {
  if (v === 'auto') return Math.min(MAX_WORKERS, Math.max(1, availableParallelism()))
  if (!/^\d+$/.test(v)) return undefined
  const n = Number(v)
  return n >= 1 && n <= MAX_WORKERS ? n : undefined
}

const LEVELS = new Set(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'])

/** Reads a JSON config file: `{ "KEY": value }` with the keys of the README table. */
function readConfigFile(path: string, problems: string[]): Source {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    problems.push(`CONFIG_FILE: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`)
    return {}
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    problems.push(`CONFIG_FILE: ${path} is not valid JSON`)
    return {}
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    problems.push(`CONFIG_FILE: ${path} must hold a JSON object of configuration keys`)
    return {}
  }
  const out: Source = {}
  for (const [k, v] of Object.entries(parsed as Record<string, unknown>)) {
    if (!(k in KEYS)) { problems.push(`${k}: unknown key in ${path}`); continue }
    if (k === 'CONFIG_FILE') { problems.push(`CONFIG_FILE: cannot be set inside a config file`); continue }
    if (typeof v === 'string') out[k] = v
    else if (typeof v === 'number' || typeof v === 'boolean') out[k] = String(v)
    else if (Array.isArray(v) && v.every((x) => typeof x === 'string')) out[k] = v.join(',')
    else problems.push(`${k}: must be a string, number or boolean in ${path}`)
  }
  return out
}

/**
 * defaults ← config file ← environment (the environment wins: SPEC §8, unlike the reference's
 * godotenv.Overload). Every problem is collected, one line per key, and thrown together.
 */
export function loadConfig(env: NodeJS.ProcessEnv, cwd: string = process.cwd()): Config {
  const problems: string[] = []
  const configFile = env.CONFIG_FILE ?? KEYS.CONFIG_FILE.default
  const explicitFile = env.CONFIG_FILE !== undefined
  const filePath = resolve(cwd, configFile)
  const file: Source = explicitFile || existsSync(filePath) ? readConfigFile(filePath, problems) : {}

  const raw: Partial<Record<ConfigKey, string>> = {}
  for (const key of Object.keys(KEYS) as ConfigKey[]) {
    // An empty variable is a value (SPEC §8): `?? ` only falls through on undefined.
    const v = env[key] ?? file[key] ?? (KEYS[key] as KeySpec).default
    if (v !== undefined) raw[key] = v
  }

  const str = (k: ConfigKey): string | undefined => raw[k]
  const check = (k: ConfigKey): string | undefined => {
    const v = raw[k]
    if (v === undefined) return undefined
    const spec: KeySpec = KEYS[k]
    const fail = (why: string): undefined => { problems.push(`${k}: ${why} (got ${JSON.stringify(spec.type === 'secret' ? '***' : v)})`); return undefined }
    switch (spec.type) {
      case 'int': {
        if (!/^\d+$/.test(v)) return fail('must be a whole number')
        const n = Number(v)
        if (spec.min !== undefined && n < spec.min) return fail(`must be at least ${spec.min}`)
        if (spec.max !== undefined && n > spec.max) return fail(`must be at most ${spec.max}`)
        return v
      }
      case 'port': {
        if (!/^\d+$/.test(v) || Number(v) < 1 || Number(v) > 65535) return fail('must be a port number 1-65535')
        return v
      }
      case 'bool': {
        if (v !== 'true' && v !== 'false') return fail('must be true or false')
        return v
      }
      case 'enum': {
        if (!spec.values?.includes(v)) return fail(`must be one of ${spec.values?.join(', ')}`)
        return v
      }
      case 'url': {
        let u: URL
        try { u = new URL(v) } catch { return fail('must be an absolute http(s) URL') }
        if (u.protocol !== 'http:' && u.protocol !== 'https:') return fail('must be an http(s) URL')
        return v.replace(/\/+$/, '')
      }
      case 'level': {
        if (!LEVELS.has(v)) return fail('must be one of trace, debug, info, warn, error, fatal, silent')
        return v
      }
      case 'list': {
        if (v.trim() === '') return fail('must not be empty (unset it instead)')
        return v
      }
      case 'path':
      case 'secret':
      case 'string':
        if (v === '' && (k === 'PROXY_BIND' || k === 'TLS_CERT_FILE' || k === 'TLS_KEY_FILE' || k === 'SANDBOXES_FILE')) return fail('must not be empty')
        return v
    }
  }
  const checked: Partial<Record<ConfigKey, string>> = {}
  for (const key of Object.keys(raw) as ConfigKey[]) {
    const v = check(key)
    if (v !== undefined) checked[key] = v
  }
  const int = (k: ConfigKey): number => Number(checked[k] ?? (KEYS[k] as KeySpec).default ?? 0)
  const bool = (k: ConfigKey): boolean => checked[k] === 'true'

  const apiUrl = checked.DAYTONA_API_URL
  const apiKey = str('PROXY_API_KEY')
  if (raw.DAYTONA_API_URL !== undefined && (apiKey === undefined || apiKey === '')) {
    problems.push('PROXY_API_KEY: required when DAYTONA_API_URL is set')
  }
  if (apiKey !== undefined && apiKey === '' && raw.DAYTONA_API_URL === undefined) {
    problems.push('PROXY_API_KEY: must not be empty (unset it instead)')
  }

  const domains: string[] = []
  if (checked.PROXY_DOMAIN !== undefined) {
    for (const part of checked.PROXY_DOMAIN.split(',')) {
      const d = part.trim().toLowerCase().replace(/\.$/, '')
      if (!DOMAIN_RE.test(d)) problems.push(`PROXY_DOMAIN: ${JSON.stringify(part.trim())} is not a domain name`)
      else domains.push(d)
    }
  }
  const trustedProxies: string[] = []
  for (const part of (checked.TRUSTED_PROXIES ?? '').split(',')) {
    const e = part.trim()
    if (e === '') continue
    if (parseTrustedProxy(e) === null) problems.push(`TRUSTED_PROXIES: ${JSON.stringify(e)} is not an IP address or CIDR`)
    else trustedProxies.push(e)
  }
  const corsAllowedOrigins: string[] = []
  if (checked.CORS_ALLOWED_ORIGINS !== undefined) {
    for (const part of checked.CORS_ALLOWED_ORIGINS.split(',')) {
      const o = part.trim()
      if (o === '') continue
      let u: URL | undefined
      try { u = new URL(o) } catch { /* reported below */ }
      if (u === undefined || (u.protocol !== 'http:' && u.protocol !== 'https:') || u.origin === 'null') problems.push(`CORS_ALLOWED_ORIGINS: ${JSON.stringify(o)} is not an origin (scheme://host[:port])`)
      else corsAllowedOrigins.push(u.origin)
    }
  }

  const enableTls = bool('ENABLE_TLS')
  let tls: Config['tls']
  if (enableTls) {
    const certFile = checked.TLS_CERT_FILE
    const keyFile = checked.TLS_KEY_FILE
    if (certFile === undefined) problems.push('TLS_CERT_FILE: required when ENABLE_TLS=true')
    if (keyFile === undefined) problems.push('TLS_KEY_FILE: required when ENABLE_TLS=true')
    if (certFile !== undefined && keyFile !== undefined) {
      try {
        tls = { cert: readFileSync(resolve(cwd, certFile), 'utf8'), key: readFileSync(resolve(cwd, keyFile), 'utf8') }
      } catch (err) {
        problems.push(`TLS_CERT_FILE: cannot read certificate or key (${(err as NodeJS.ErrnoException).code ?? 'error'})`)
      }
    }
  }

  let sessionSecret = str('SESSION_SECRET')
  if (sessionSecret !== undefined && sessionSecret.length < 32) problems.push('SESSION_SECRET: must be at least 32 characters')
  if (sessionSecret === undefined && apiKey !== undefined && apiKey !== '') sessionSecret = apiKey
  // SPEC §9: every replica must verify every other's sessions and tickets, so with Redis (a fleet)
  // the secret comes from configuration, never the per-pod random fallback below.
  if (sessionSecret === undefined && checked.REDIS_HOST !== undefined && checked.REDIS_HOST !== '') {
    problems.push('SESSION_SECRET: required when REDIS_HOST is set (every replica must share it; or set PROXY_API_KEY)')
  }
  if (sessionSecret === undefined && raw.DAYTONA_API_URL === undefined && problems.length === 0) {
    sessionSecret = loadOrCreateLocalSecret(cwd)
  }

  const webhookSecret = checked.WEBHOOK_SECRET
  if (webhookSecret !== undefined && (!WEBHOOK_SECRET_RE.test(webhookSecret) || (webhookSecret.length - 6) % 4 !== 0)) problems.push('WEBHOOK_SECRET: must be `whsec_` followed by the base64 key Daytona shows for the endpoint')
  const workers = parseWorkers(checked.WORKERS ?? '1')
  if (workers === undefined) problems.push(`WORKERS: must be a number 1-${MAX_WORKERS} or auto (got ${JSON.stringify(checked.WORKERS)})`)

  if (problems.length > 0) throw new ConfigError(problems)

  const redisHost = checked.REDIS_HOST
  return Object.freeze({
    port: int('PROXY_PORT'),
    bind: checked.PROXY_BIND ?? '0.0.0.0',
    protocol: enableTls || checked.PROXY_PROTOCOL === 'https' ? 'https' : 'http',
    domains: Object.freeze(domains),
    publicPort: checked.PROXY_PUBLIC_PORT === undefined ? undefined : Number(checked.PROXY_PUBLIC_PORT),
    apiKey,
    apiUrl,
    sandboxesFile: resolve(cwd, checked.SANDBOXES_FILE ?? 'config/sandboxes.json'),
    sessionSecret: sessionSecret ?? '',
    sessionTtlSec: int('SESSION_TTL_SEC'),
    apiTimeoutMs: int('API_CLIENT_TIMEOUT_SEC') * 1000,
    upstreamTimeoutMs: int('UPSTREAM_TIMEOUT_SEC') * 1000,
    upstreamIdleTimeoutMs: int('UPSTREAM_IDLE_TIMEOUT_SEC') * 1000,
    clientIdleTimeoutMs: int('CLIENT_IDLE_TIMEOUT_SEC') * 1000,
    keepAliveTimeoutMs: int('KEEP_ALIVE_TIMEOUT_SEC') * 1000,
    corsAllowedOrigins: Object.freeze(corsAllowedOrigins),
    trustedProxies: Object.freeze(trustedProxies),
    cookieDomain: checked.COOKIE_DOMAIN === '' ? undefined : checked.COOKIE_DOMAIN,
    cookiePartitioned: bool('COOKIE_PARTITIONED'),
    toolboxOnly: bool('TOOLBOX_ONLY_MODE'),
    previewWarning: bool('PREVIEW_WARNING_ENABLED'),
    wakeOnRequest: bool('WAKE_ON_REQUEST'),
    tls,
    metricsPort: checked.METRICS_PORT === undefined ? undefined : Number(checked.METRICS_PORT),
    oidc: Object.freeze({
      clientId: checked.OIDC_CLIENT_ID || undefined,
      clientSecret: checked.OIDC_CLIENT_SECRET || undefined,
      domain: checked.OIDC_DOMAIN,
      publicDomain: checked.OIDC_PUBLIC_DOMAIN,
      audience: checked.OIDC_AUDIENCE || undefined,
    }),
    redis: redisHost === undefined || redisHost === '' ? undefined : Object.freeze({
      host: redisHost,
      port: int('REDIS_PORT'),
      ...(checked.REDIS_USERNAME ? { username: checked.REDIS_USERNAME } : {}),
      ...(checked.REDIS_PASSWORD ? { password: checked.REDIS_PASSWORD } : {}),
      tls: bool('REDIS_TLS'),
    }),
    webhookSecret,
    workers: workers ?? 1,
    shutdownTimeoutMs: int('SHUTDOWN_TIMEOUT_SEC') * 1000,
    shutdownDelayMs: int('SHUTDOWN_DELAY_SEC') * 1000,
    cacheMaxEntries: int('CACHE_MAX_ENTRIES'),
    maxConnections: int('MAX_CONNECTIONS'),
    maxConnectionsPerSandbox: int('MAX_CONNECTIONS_PER_SANDBOX'),
    overloadLagMs: int('OVERLOAD_LAG_MS'),
    accessLog: bool('ACCESS_LOG'),
    metricsBind: checked.METRICS_BIND ?? '0.0.0.0',
    logLevel: (checked.LOG_LEVEL ?? 'info') as LogLevel,
    effective: Object.freeze(checked),
  })
}

/**
 * Embedded mode with no secret configured: a random one kept under `.data/` so that share links
 * minted by `npm run share` stay valid across restarts. Never used in Daytona mode.
 */
export function loadOrCreateLocalSecret(cwd: string): string {
  const path = resolve(cwd, '.data/session-secret')
  try {
    const s = readFileSync(path, 'utf8').trim()
    if (s.length >= 32) return s
  } catch { /* create below */ }
  const s = randomBytes(32).toString('base64url')
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 })
  writeFileSync(path, s + '\n', { mode: 0o600 })
  return s
}

/** The effective configuration for the start-up log line, secrets masked. */
export function describeConfig(config: Config): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(config.effective)) {
    out[k] = KEYS[k as ConfigKey].type === 'secret' ? '***' : (v as string)
  }
  out.MODE = config.apiUrl === undefined ? 'embedded' : 'daytona'
  return out
}
