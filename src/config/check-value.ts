import { KEYS, isSecretKey, type ConfigKey, type KeySpec } from './keys.js'

const LEVELS: ReadonlySet<string> = new Set(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'])
/** Keys whose empty value is meaningless (an empty string would bind, read or watch nothing). */
const NOT_EMPTY: ReadonlySet<ConfigKey> = new Set<ConfigKey>(['PROXY_BIND', 'TLS_CERT_FILE', 'TLS_KEY_FILE', 'SANDBOXES_FILE'])

/**
 * One value checked against its key's type in the table (keys.ts): the value to keep (a URL
 * loses its trailing slashes), or undefined with one problem line naming the key.
 */
export function checkValue(k: ConfigKey, v: string, problems: string[]): string | undefined {
  const spec: KeySpec = KEYS[k]
  const why = problemOf(spec, k, v)
  if (why === undefined) return spec.type === 'url' ? v.replace(/\/+$/, '') : v
  problems.push(`${k}: ${why} (got ${JSON.stringify(isSecretKey(k) ? '***' : v)})`)
  return undefined
}

function problemOf(spec: KeySpec, k: ConfigKey, v: string): string | undefined {
  switch (spec.type) {
    case 'int': {
      if (!/^\d+$/.test(v)) return 'must be a whole number'
      const n = Number(v)
      if (spec.min !== undefined && n < spec.min) return `must be at least ${spec.min}`
      if (spec.max !== undefined && n > spec.max) return `must be at most ${spec.max}`
      return undefined
    }
    case 'port':
      return !/^\d+$/.test(v) || Number(v) < 1 || Number(v) > 65535 ? 'must be a port number 1-65535' : undefined
    case 'bool':
      return v !== 'true' && v !== 'false' ? 'must be true or false' : undefined
    case 'enum':
      return spec.values?.includes(v) ? undefined : `must be one of ${spec.values?.join(', ')}`
    case 'url': {
      let u: URL
      try { u = new URL(v) } catch { return 'must be an absolute http(s) URL' }
      return u.protocol !== 'http:' && u.protocol !== 'https:' ? 'must be an http(s) URL' : undefined
    }
    case 'level':
      return LEVELS.has(v) ? undefined : 'must be one of trace, debug, info, warn, error, fatal, silent'
    case 'list':
      return v.trim() === '' ? 'must not be empty (unset it instead)' : undefined
    case 'path':
    case 'secret':
    case 'string':
      return v === '' && NOT_EMPTY.has(k) ? 'must not be empty' : undefined
  }
}
