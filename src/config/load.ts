// config/ owns the configuration: the key table (keys.ts), loading and checking it into a frozen
// Config (load.ts), and the sub-keys derived from configured secrets (derived-keys.ts).
import { readFileSync, existsSync } from 'node:fs'
import { createPrivateKey, X509Certificate } from 'node:crypto'
import { isIP } from 'node:net'
import { availableParallelism } from 'node:os'
import { resolve } from 'node:path'
import { checkValue } from './check-value.js'
import { readConfigFile, type Source } from './config-file.js'
import { KEYS, isSecretKey, type ConfigKey, type KeySpec } from './keys.js'
import { parseCookieDomain, parseDomains, parseOrigins, parseTrustedProxies } from './list-values.js'
import { loadOrCreateLocalSecret } from './local-secret.js'

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
  readonly redis: { readonly host: string; readonly port: number; readonly username?: string; readonly password?: string; readonly tls: boolean; readonly commandTimeoutMs: number } | undefined
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
  const checked: Partial<Record<ConfigKey, string>> = {}
  for (const key of Object.keys(raw) as ConfigKey[]) {
    const v = checkValue(key, raw[key] as string, problems)
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

  const domains = parseDomains(checked.PROXY_DOMAIN, problems)
  const cookieDomain = parseCookieDomain(checked.COOKIE_DOMAIN, problems)
  // An empty variable is a value (SPEC §8): an empty REDIS_HOST is no host, not "no Redis".
  if (checked.REDIS_HOST !== undefined && checked.REDIS_HOST.trim() === '') problems.push('REDIS_HOST: empty (unset it to run without Redis)')
  const trustedProxies = parseTrustedProxies(checked.TRUSTED_PROXIES, problems)
  const corsAllowedOrigins = parseOrigins(checked.CORS_ALLOWED_ORIGINS, problems)

  const enableTls = bool('ENABLE_TLS')
  let tls: Config['tls']
  if (enableTls) {
    const certFile = checked.TLS_CERT_FILE
    const keyFile = checked.TLS_KEY_FILE
    if (certFile === undefined) problems.push('TLS_CERT_FILE: required when ENABLE_TLS=true')
    if (keyFile === undefined) problems.push('TLS_KEY_FILE: required when ENABLE_TLS=true')
    if (certFile !== undefined && keyFile !== undefined) {
      const cert = readPem('TLS_CERT_FILE', resolve(cwd, certFile), 'certificate', (pem) => new X509Certificate(pem), problems)
      const key = readPem('TLS_KEY_FILE', resolve(cwd, keyFile), 'private key', (pem) => createPrivateKey(pem), problems)
      if (cert !== undefined && key !== undefined) tls = { cert, key }
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

  for (const k of ['PROXY_BIND', 'METRICS_BIND'] as const) {
    const v = checked[k]
    if (v !== undefined && isIP(v) === 0 && !/^[A-Za-z0-9][A-Za-z0-9.-]*$/.test(v)) problems.push(`${k}: must be an IP address or a host name (got ${JSON.stringify(v)})`)
  }

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
    cookieDomain,
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
    redis: redisHost === undefined ? undefined : Object.freeze({
      host: redisHost,
      port: int('REDIS_PORT'),
      ...(checked.REDIS_USERNAME ? { username: checked.REDIS_USERNAME } : {}),
      ...(checked.REDIS_PASSWORD ? { password: checked.REDIS_PASSWORD } : {}),
      tls: bool('REDIS_TLS'),
      commandTimeoutMs: int('REDIS_COMMAND_TIMEOUT_MS'),
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

/** The effective configuration for the start-up log line, secrets masked. */
export function describeConfig(config: Config): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(config.effective)) {
    out[k] = isSecretKey(k as ConfigKey) ? '***' : (v as string)
  }
  out.MODE = config.apiUrl === undefined ? 'embedded' : 'daytona'
  return out
}

/** A PEM file that must hold what `parse` accepts: unreadable or unparsable names its key (SPEC §8). */
function readPem(key: string, file: string, what: string, parse: (pem: string) => unknown, problems: string[]): string | undefined {
  let pem: string
  try {
    pem = readFileSync(file, 'utf8')
  } catch (err) {
    problems.push(`${key}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`)
    return undefined
  }
  try {
    parse(pem)
    return pem
  } catch {
    problems.push(`${key}: ${file} holds no PEM ${what} Node can read`)
    return undefined
  }
}
