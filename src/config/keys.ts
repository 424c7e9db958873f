/**
 * The one table of configuration keys (SPEC §8). The README table is checked against it by a test.
 * Each key: its type, its default (undefined = unset), and one line of documentation.
 */
export type KeyType = 'int' | 'port' | 'bool' | 'string' | 'secret' | 'url' | 'list' | 'enum' | 'path' | 'level'

export interface KeySpec {
  readonly type: KeyType
  readonly default?: string
  readonly doc: string
  readonly values?: readonly string[]
  readonly min?: number
  readonly max?: number
}

export const KEYS = {
  PROXY_PORT: { type: 'port', default: '4000', doc: 'Public listening port (HTTP, or HTTPS with ENABLE_TLS).' },
  PROXY_BIND: { type: 'string', default: '0.0.0.0', doc: 'Address the public listener binds to.' },
  PROXY_PROTOCOL: { type: 'enum', values: ['http', 'https'], default: 'http', doc: 'Scheme users reach the gateway with (behind a TLS load balancer: https). Decides cookie Secure/SameSite and redirect URLs.' },
  PROXY_DOMAIN: { type: 'list', doc: 'Comma-separated base domains. Set: only `{label}.{PROXY_DOMAIN}` hosts are previews, every other host is 404. Unset: the first label of any host is tried.' },
  PROXY_PUBLIC_PORT: { type: 'port', doc: 'Port users reach the gateway on when it is not 80/443 (put into login redirect URLs).' },
  PROXY_API_KEY: { type: 'secret', doc: 'Bearer the gateway presents to the Daytona API. Required with DAYTONA_API_URL.' },
  DAYTONA_API_URL: { type: 'url', doc: 'Daytona API base URL. Unset: the embedded control plane (SANDBOXES_FILE) is used.' },
  SANDBOXES_FILE: { type: 'path', default: 'config/sandboxes.json', doc: 'Embedded control plane registry (sandboxes, ports, tokens); re-read on change. Ignored with DAYTONA_API_URL.' },
  CONFIG_FILE: { type: 'path', default: 'config/gateway.json', doc: 'Optional JSON file setting any key of this table; the environment wins over it. Read only if present (only from the environment).' },
  SESSION_SECRET: { type: 'secret', doc: 'Secret that signs session cookies and share links (≥ 32 chars). Falls back to PROXY_API_KEY, then (embedded mode without REDIS_HOST only) to a random secret kept in `.data/session-secret`. Must be the same on every replica.' },
  SESSION_TTL_SEC: { type: 'int', default: '3600', min: 60, max: 7 * 86400, doc: 'Lifetime of a session cookie minted on a sandbox-id host.' },
  API_CLIENT_TIMEOUT_SEC: { type: 'int', default: '10', min: 1, max: 300, doc: 'Timeout of one control-plane call (each try).' },
  UPSTREAM_TIMEOUT_SEC: { type: 'int', default: '120', min: 1, max: 3600, doc: 'Time allowed for the sandbox to send response headers, counted from the end of the request body (504 after).' },
  UPSTREAM_IDLE_TIMEOUT_SEC: { type: 'int', default: '900', min: 1, max: 86400, doc: 'A response body that moves no byte for this long is cut (idle, not total).' },
  CLIENT_IDLE_TIMEOUT_SEC: { type: 'int', default: '900', min: 1, max: 86400, doc: 'A client connection that moves no byte for this long while a request is open is closed (idle, not total; checked by a sweep every min(1 s, timeout/4), so the cut comes up to two sweeps late).' },
  KEEP_ALIVE_TIMEOUT_SEC: { type: 'int', default: '70', min: 65, max: 3600, doc: 'Idle keep-alive timeout of client connections (above a load balancer\'s 60 s).' },
  TRUSTED_PROXIES: { type: 'list', doc: 'Comma-separated IPs or CIDRs (IPv4, IPv6) of proxies in front of the gateway: their `X-Forwarded-For` is appended to and their `X-Forwarded-Host`/`-Proto` kept; from any other peer all three are replaced. Unset: trust no one.' },
  CORS_ALLOWED_ORIGINS: { type: 'list', doc: 'Origins always granted credentialed CORS and reserved-port WebSockets (e.g. a dashboard).' },
  COOKIE_DOMAIN: { type: 'string', doc: 'Compatibility: may widen only base-domain login cookies and the warning-accept cookie, never a session. A domain name (a leading dot is dropped); empty: unset.' },
  COOKIE_PARTITIONED: { type: 'bool', default: 'false', doc: 'Mark session cookies `Partitioned` (CHIPS, https only) so previews embedded in cross-site iframes keep a session where third-party cookies are blocked.' },
  TOOLBOX_ONLY_MODE: { type: 'bool', default: 'false', doc: 'Serve only port 2280 on preview hosts (others 404).' },
  PREVIEW_WARNING_ENABLED: { type: 'bool', default: 'false', doc: 'Show the preview warning page on a browser\'s first navigation, for sandboxes whose `GET /preview/{idOrToken}/preview-warning` says `enabled` (cached 20 s; a failed call shows the page). Embedded registry: `previewWarning` per sandbox, default true.' },
  WAKE_ON_REQUEST: { type: 'bool', default: 'false', doc: 'Wake on visit: a visit to a `stopped`/`archived` sandbox sends one `POST /sandbox/{id}/start` for the whole fleet and answers at once: a self-refreshing "starting" page for navigations, 503 `SANDBOX_STARTING` + Retry-After otherwise. Off: 503 `SANDBOX_STOPPED`.' },
  ENABLE_TLS: { type: 'bool', default: 'false', doc: 'Serve HTTPS on PROXY_PORT with TLS_CERT_FILE / TLS_KEY_FILE.' },
  TLS_CERT_FILE: { type: 'path', doc: 'PEM certificate chain (required with ENABLE_TLS).' },
  TLS_KEY_FILE: { type: 'path', doc: 'PEM private key (required with ENABLE_TLS).' },
  METRICS_PORT: { type: 'port', doc: 'Port for Prometheus `GET /metrics` (never on PROXY_PORT). Unset: no metrics listener.' },
  OIDC_CLIENT_ID: { type: 'string', doc: 'OIDC client id for browser login (falls back to the API\'s /config).' },
  OIDC_CLIENT_SECRET: { type: 'secret', doc: 'OIDC client secret.' },
  OIDC_DOMAIN: { type: 'url', doc: 'OIDC issuer URL (discovery).' },
  OIDC_PUBLIC_DOMAIN: { type: 'url', doc: 'Issuer URL as browsers reach it, when it differs from OIDC_DOMAIN.' },
  OIDC_AUDIENCE: { type: 'string', doc: 'Sent as the `audience` parameter of the authorize request.' },
  REDIS_HOST: { type: 'string', doc: 'Redis shared by the replicas (SPEC §9): second cache tier under the in-memory one (the reference\'s `proxy:sandbox-public:*` / `proxy:sandbox-runner-info:*` keys), fleet-wide coalescing, invalidation, one-time tickets. Unset: each process alone; an empty value is an error. Requires SESSION_SECRET (or PROXY_API_KEY).' },
  REDIS_PORT: { type: 'port', default: '6379', doc: 'Redis port.' },
  REDIS_USERNAME: { type: 'string', doc: 'Redis ACL user (with REDIS_PASSWORD).' },
  REDIS_PASSWORD: { type: 'secret', doc: 'Redis password (AUTH); never logged.' },
  REDIS_TLS: { type: 'bool', default: 'false', doc: 'Connect to Redis over TLS.' },
  REDIS_COMMAND_TIMEOUT_MS: { type: 'int', default: '100', min: 10, max: 10_000, doc: 'A Redis command slower than this counts as Redis down (SPEC §9: the request goes on without Redis; probed in the background). Raise it only for a Redis far away.' },
  WEBHOOK_SECRET: { type: 'secret', doc: 'Signing secret of the Daytona webhook endpoint (`whsec_` + base64, Standard Webhooks / Svix). Set: `POST /webhooks/daytona` on a base domain verifies events and invalidates caches. Unset: that route is 404.' },
  WORKERS: { type: 'string', default: '1', doc: 'Processes per pod sharing PROXY_PORT (node:cluster): a number 1-256, or `auto` for the available cores. Above 1 a primary process forks the workers, restarts a crashed one and answers METRICS_PORT for all of them.' },
  SHUTDOWN_TIMEOUT_SEC: { type: 'int', default: '30', min: 0, max: 3600, doc: 'Time in-flight requests get to finish after a SIGTERM/SIGINT before remaining connections are closed.' },
  SHUTDOWN_DELAY_SEC: { type: 'int', default: '0', min: 0, max: 600, doc: 'Pre-stop delay: keep serving (readiness false) this long after the signal before draining.' },
  MAX_CONNECTIONS: { type: 'int', default: '20000', min: 0, max: 10_000_000, doc: 'Cap on open client connections (0 = no cap); connections beyond it are dropped and counted in gateway_connections_refused_total.' },
  MAX_CONNECTIONS_PER_SANDBOX: { type: 'int', default: '0', min: 0, max: 10_000_000, doc: 'Cap on concurrent requests + WebSockets per sandbox (0 = off); beyond it: 429 TOO_MANY_CONNECTIONS.' },
  OVERLOAD_LAG_MS: { type: 'int', default: '500', min: 0, max: 60_000, doc: 'Event-loop lag above which new requests get 503 OVERLOADED with Retry-After (0 = never); open streams are kept.' },
  ACCESS_LOG: { type: 'bool', default: 'true', doc: 'One JSON access-log line per request at level info.' },
  METRICS_BIND: { type: 'string', default: '0.0.0.0', doc: 'Address the metrics listener binds to.' },
  CACHE_MAX_ENTRIES: { type: 'int', default: '50000', min: 100, max: 10_000_000, doc: 'Bound of each control-plane answer cache.' },
  LOG_LEVEL: { type: 'level', default: 'info', doc: 'trace | debug | info | warn | error | fatal | silent.' },
} as const satisfies Record<string, KeySpec>

export type ConfigKey = keyof typeof KEYS

/** Keys whose values are masked wherever configuration is printed. */
export function isSecretKey(key: ConfigKey): boolean {
  return KEYS[key].type === 'secret'
}
